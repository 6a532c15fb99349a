"""Prompt templates in conf/ render every request field, per language."""

import pytest

from relate_ray.data.prompts import PromptTemplateError, load_template, render_messages
from relate_ray.data.schema import AdRequest


def test_english_prompt_carries_the_request(good_row):
    messages = render_messages(AdRequest.from_dict(good_row))
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    for fragment in ("cheap flights to lisbon", "lisbon flights", "- Free 23 kg bag", "Title:", "Description:"):
        assert fragment in user


def test_chinese_template_is_chinese(good_row):
    request = AdRequest.from_dict(dict(good_row, lang="zh", query="北京雅思培训", bidword="雅思培训"))
    user = render_messages(request)[-1]["content"]
    assert "搜索词：北京雅思培训" in user and "Title:" in user


def test_braces_in_user_data_are_not_template_fields(good_row):
    request = AdRequest.from_dict(dict(good_row, query="c++ {templates} course"))
    assert "c++ {templates} course" in render_messages(request)[-1]["content"]


def test_bad_template_placeholder_names_the_file(tmp_path):
    (tmp_path / "prompt").mkdir()
    (tmp_path / "prompt" / "en.yaml").write_text("user: 'Write an ad for {qeury}'\n")
    with pytest.raises(PromptTemplateError, match=r"en.yaml: bad placeholder 'qeury'"):
        load_template("en", str(tmp_path))


# A Qwen3-style template: the generation prompt opens a thinking block unless enable_thinking is false.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


@pytest.fixture
def tokenizer(policy_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(policy_dir)


def test_enable_thinking_reaches_a_template_that_reads_it(tokenizer, good_row):
    from relate_ray.data.prompts import render_prompt
    from relate_ray.rewards.judge import Judge

    tokenizer.chat_template = THINKING_TEMPLATE
    prompt = render_prompt(AdRequest.from_dict(good_row), tokenizer)
    # The empty think block is what Qwen3's template emits for enable_thinking=False.
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert Judge(None, tokenizer)._prompt("Is this a good ad?").endswith("<think>\n\n</think>\n\n")


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

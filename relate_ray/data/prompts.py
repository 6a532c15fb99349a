"""Prompt rendering: an ad request becomes the policy's chat messages, through a template in conf/.

One template per language lives in `conf/prompt/<lang>.yaml` (keys `system` and `user`), so prompt
wording is configuration, not code. The answer format the templates ask for is
`relate_ray.data.adformat`'s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from relate_ray.data.schema import AdRequest

# conf/ sits beside the package in the repository (the project installs in editable mode).
DEFAULT_CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
_FIELDS = ("query", "bidword", "category", "selling_points", "landing_page")


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    user: str


class PromptTemplateError(Exception):
    """A missing or malformed template file; the message names the file."""


def prompt_dir(conf_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(conf_dir) / "prompt" if conf_dir else DEFAULT_CONF_DIR / "prompt"


@lru_cache(maxsize=16)
def load_template(lang: str, conf_dir: str | None = None) -> PromptTemplate:
    """Read and check `conf/prompt/<lang>.yaml`."""
    path = prompt_dir(conf_dir) / f"{lang}.yaml"
    if not path.is_file():
        raise PromptTemplateError(f"{path}: no prompt template for language '{lang}'")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PromptTemplateError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("user"), str):
        raise PromptTemplateError(f"{path}: needs a 'user' string (and optionally 'system')")
    template = PromptTemplate(system=str(data.get("system") or ""), user=data["user"])
    try:
        template.user.format(**{name: "" for name in _FIELDS})
    except (KeyError, IndexError, ValueError) as err:
        raise PromptTemplateError(f"{path}: bad placeholder {err} (allowed: {', '.join(_FIELDS)})") from err
    return template


def render_messages(request: AdRequest, conf_dir: str | None = None) -> list[dict[str, str]]:
    """The chat messages for one request: [system?, user]."""
    template = load_template(request.lang, conf_dir)
    user = template.user.format(
        query=request.query,
        bidword=request.bidword,
        category=request.category,
        selling_points="\n".join(f"- {point}" for point in request.selling_points),
        landing_page=request.landing_page or "-",
    )
    messages = [{"role": "system", "content": template.system}] if template.system else []
    return messages + [{"role": "user", "content": user}]


def render_prompt(request: AdRequest, tokenizer, conf_dir: str | None = None) -> str:
    """The prompt string for a chat model: messages through the tokenizer's chat template."""
    return chat_prompt(tokenizer, render_messages(request, conf_dir))


def chat_prompt(tokenizer, messages: list[dict[str, str]]) -> str:
    """`messages` through the tokenizer's chat template, ready for the assistant's answer.

    Thinking models (Qwen3, the paper's policy) open a `<think>` block unless the template is told
    `enable_thinking=False`: the policy would spend its token budget thinking and the one-token
    judge would read `<think>`. So it is passed wherever the template reads it, and only there.
    """
    kwargs = {"enable_thinking": False} if "enable_thinking" in (getattr(tokenizer, "chat_template", None) or "") else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)

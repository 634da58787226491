"""MCP prompt descriptions of an agent class's `@prompt` methods, and their messages.

A prompt is named after its method; its description is the docstring, its arguments the
method's parameters (required when they have no default). The method returns one user message
as a string, or a list of `{"role": "user" | "assistant", "content": str}` dicts.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types
import pydantic
from mcp.shared.exceptions import MCPError

from cluster.methods import MethodSpec, method_table
from serve.mcp_tools import known


class Message(pydantic.BaseModel):
    """One message of a prompt, as a `@prompt` method returns it (a dict of these fields)."""

    role: Literal["user", "assistant"]
    content: str


_MESSAGES: pydantic.TypeAdapter[str | list[Message]] = pydantic.TypeAdapter(str | list[Message])


@dataclass(frozen=True)
class McpPrompt:
    """One prompt: its description and the method that writes its messages."""

    spec: MethodSpec
    prompt: types.Prompt

    def result(self, value: Any) -> types.GetPromptResult:
        """The method's value as the prompt's messages; a value of another shape is an error."""
        try:
            messages = _MESSAGES.validate_python(value)
        except pydantic.ValidationError:
            raise MCPError(
                types.INTERNAL_ERROR,
                f"prompt {self.spec.name} returned {type(value).__name__}, not a str or a list of "
                '{"role", "content"} messages',
            ) from None
        if isinstance(messages, str):
            messages = [Message(role="user", content=messages)]
        return types.GetPromptResult(
            description=self.prompt.description,
            messages=[
                types.PromptMessage(role=m.role, content=types.TextContent(text=m.content)) for m in messages
            ],
        )


@functools.cache
def prompts(agent_cls: type) -> dict[str, McpPrompt]:
    """The class's MCP prompts by name."""
    return {name: _prompt(spec) for name, spec in method_table(agent_cls).items() if spec.prompt}


def lookup_prompt(agent_cls: type, name: str) -> McpPrompt:
    """The prompt of that name, or the JSON-RPC error MCP specifies for an unknown one."""
    return known(prompts(agent_cls), "prompt", name)


def _prompt(spec: MethodSpec) -> McpPrompt:
    parameters = list(inspect.signature(spec.function).parameters.values())[1:]  # not `self`
    arguments = [
        types.PromptArgument(name=p.name, required=p.default is inspect.Parameter.empty) for p in parameters
    ]
    prompt = types.Prompt(name=spec.name, description=inspect.getdoc(spec.function), arguments=arguments)
    return McpPrompt(spec, prompt)

"""An OpenAI-compatible chat-completions endpoint (vLLM, TGI, any API) as a Policy, over plain HTTP."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from srl_agent.errors import ConfigError
from srl_agent.policy.base import GenerationConfig, Messages, PolicyError

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` listens by default
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIPolicy:
    """POSTs {base_url}/chat/completions. base_url and api_key default to $OPENAI_BASE_URL and
    $OPENAI_API_KEY; transient failures (connection errors, 429, 5xx) are retried with backoff."""

    def __init__(self, model: str, *, gen: GenerationConfig | None = None, base_url: str | None = None,
                 api_key: str | None = None, timeout: float = 120.0, retries: int = 4,
                 backoff: float = 1.0, concurrency: int = 8) -> None:
        self.name = model
        self.gen = gen or GenerationConfig()
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base URL {self.base_url!r} must start with http:// or https:// "
                              "(set --base-url or $OPENAI_BASE_URL)")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.timeout, self.retries, self.backoff = timeout, max(0, retries), backoff
        self.concurrency = max(1, concurrency)

    def payload(self, messages: Messages) -> dict:
        body = {"model": self.name, "messages": [dict(m) for m in messages],
                "max_tokens": self.gen.max_new_tokens, "temperature": self.gen.temperature,
                "top_p": self.gen.top_p}
        if self.gen.seed is not None:
            body["seed"] = self.gen.seed
        return body

    def generate(self, messages: Messages) -> str:
        data = self._post("/chat/completions", self.payload(messages))
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise PolicyError(f"{self.base_url}: unexpected response (no choices[0].message.content): "
                              f"{json.dumps(data)[:300]}") from None
        return content or ""

    def generate_batch(self, batch: Sequence[Messages]) -> list[str]:
        if len(batch) <= 1:
            return [self.generate(m) for m in batch]
        with ThreadPoolExecutor(min(self.concurrency, len(batch))) as pool:
            return list(pool.map(self.generate, batch))

    def _post(self, path: str, body: dict) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        raw = json.dumps(body).encode()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            req = urllib.request.Request(self.base_url + path, data=raw, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                last = f"HTTP {exc.code}: {detail}"
                if exc.code not in _RETRY_STATUS:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            except json.JSONDecodeError as exc:
                last = f"response is not JSON ({exc.msg})"
        raise PolicyError(f"{self.base_url}{path} failed after {attempt + 1} attempt(s): {last} "
                          "(is the server up, and are $OPENAI_BASE_URL / $OPENAI_API_KEY right?)")

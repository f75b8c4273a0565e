"""The local backend set: models that run on this machine or on a server the operator runs.

Text comes from llama.cpp in process (``LlamaWriter``, SmolLM2 by default) or from an
OpenAI-compatible server such as Ollama (``OpenAIWriter``). Importing this package loads
neither ``llama_cpp`` nor any model: that happens on a writer's first call.
"""

from workers.backends.local.chat import ChatWriter, Completion
from workers.backends.local.llama import LlamaWriter
from workers.backends.local.models import default_gguf
from workers.backends.local.openai_http import OpenAIWriter

__all__ = ["ChatWriter", "Completion", "LlamaWriter", "OpenAIWriter", "default_gguf"]

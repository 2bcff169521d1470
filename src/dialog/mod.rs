//! The dialog brain: llama.cpp LLM, chat templates, tool calling, sentence chunking for speech.

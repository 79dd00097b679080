"""Tiny random checkpoints in Maya1's real formats and token layout, for tests and benchmarks:
a Llama LM (vocabulary 156 960) saved with save_pretrained as safetensors, a tokenizer.json
with the special tokens and the 20 emotion tags as single tokens, and a SNAC 24 kHz model
(config.json + pytorch_model.bin). Their weights are random: they speak noise, in the layout."""

from __future__ import annotations

import json
from pathlib import Path

from tritontts.maya1.prompt import EMOTION_TAGS
from tritontts.maya1.tokens import BOS, CUSTOM_TOKEN_BASE, END_OF_TEXT, VOCAB_SIZE

# The tags sit in Llama 3's reserved special-token range in this tokenizer (the model card
# gives no ids for them; the prompt builder reads whatever ids the tokenizer has).
FIRST_TAG_ID = 128_010
TINY_SNAC_CONFIG = {
    "sampling_rate": 24000, "encoder_dim": 4, "encoder_rates": [2, 4, 8, 8],
    "decoder_dim": 32, "decoder_rates": [8, 8, 4, 2], "attn_window_size": None,
    "codebook_size": 4096, "codebook_dim": 8, "vq_strides": [4, 2, 1], "noise": True,
    "depthwise": True}


def write_tokenizer(path: Path) -> Path:
    """A byte-level BPE tokenizer (no merges: a byte per token at ids 0..255) with Llama 3's
    and Maya1's special tokens at their ids, every emotion tag as one token, and Llama 3's
    post-processor: an encoded text gets <|begin_of_text|> in front unless asked not to."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    specials = {"<|begin_of_text|>": BOS, "<|eot_id|>": END_OF_TEXT}
    specials.update({f"<{tag}>": FIRST_TAG_ID + i for i, tag in enumerate(EMOTION_TAGS)})
    specials.update({f"<custom_token_{n}>": CUSTOM_TOKEN_BASE + n
                     for n in range(VOCAB_SIZE - CUSTOM_TOKEN_BASE)})
    vocab.update(specials)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
        special_tokens=[("<|begin_of_text|>", BOS)])
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token in specials])
    tokenizer.save(str(path))
    # What transformers' AutoTokenizer reads beside it (the reference loads it that way).
    (path.parent / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": False}, indent=2))
    return path


def write_tiny_maya1(directory: Path, hidden: int = 64, layers: int = 2, heads: int = 4,
                     kv_heads: int = 2, seed: int = 0) -> Path:
    """A random LlamaForCausalLM with Maya1's vocabulary (head dim hidden / heads >= 16)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB_SIZE, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads,
                         num_key_value_heads=kv_heads, max_position_embeddings=4096,
                         bos_token_id=BOS, eos_token_id=128_258, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    write_tokenizer(directory / "tokenizer.json")
    return directory


def write_tiny_snac(directory: Path, seed: int = 0) -> Path:
    import torch
    from snac import SNAC

    torch.manual_seed(seed)
    model = SNAC(**TINY_SNAC_CONFIG)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(TINY_SNAC_CONFIG))
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    return directory

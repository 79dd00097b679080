"""Maya1: a Llama-architecture decoder writes SNAC 24 kHz codec tokens from a voice description
and text with inline emotion tags; the SNAC decoder turns them into audio.

Modules by job: `tokens` (the token layout), `prompt` (description + text -> prompt ids),
`sampling` (slot-band constrained sampling), `generator` (batched KV-cache generation),
`codec` (SNAC decoding, streaming windows), `checkpoint` (local snapshots), `repository` (the
Triton models' descriptions).
"""

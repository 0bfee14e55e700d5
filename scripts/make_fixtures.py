#!/usr/bin/env python3
"""Make the architecture fixtures: tiny random-weight sentence-transformers models shaped like
the model families embed serves, saved by the current sentence-transformers, with the vectors it
gives.

    make_fixtures.py --out fixtures/architectures [--only NAME ...]

For each fixture (FIXTURES below) this script trains a tokenizer here with the `tokenizers` library
(on the STS-B dev sentences of data/stsb plus the multi-script sentences below), builds a
transformer with seeded random weights (hidden size 32, 2 layers, 4 heads, the real maximum
lengths and special-token templates of the family it imitates; ModernBERT has 3 layers, to have
both its global and its sliding-window attention; Qwen3 and Qwen2 have 2 key/value heads and
heads of 16; Gemma3 has 4 layers, of which the third attends globally, and EmbeddingGemma's two
Dense layers without biases), wraps it in sentence-transformers modules (Pooling, Dense, Normalize, prompts), saves it with `SentenceTransformer.save` into
`<out>/<name>/` and writes `<out>/<name>/reference.json`: sentence-transformers' embeddings and
token counts of scripts/reference_texts.json, without a prompt and with each prompt of the model.

Everything is seeded, so a rerun writes the same files. The ONNX file of each fixture is not made
here: `cargo xtask fixtures` runs this script, then converts each fixture with convert_model.py.
This script knows nothing of ONNX or of the Rust engine the fixtures test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import embed_common as ec

HIDDEN = 32
LAYERS = 2
HEADS = 4
INTERMEDIATE = 64
VOCAB = 1000
# Wider than the usual 0.02, so that attention is far from uniform and different texts (and
# different poolings of one text) give clearly different vectors: a wrong vector cannot pass
# a cosine check by accident.
INIT_RANGE = 0.2

# Sentences in the scripts the reference texts use, so that the tokenizers have pieces for them.
MULTI_SCRIPT = [
    "Le café est chaud et la crème brûlée est délicieuse.",
    "Où est la bibliothèque ? Elle est près de l'église.",
    "Ça coûte trop cher, mais c'est très joli.",
    "Die Straße ist nass, weil es geregnet hat.",
    "Größere Häuser brauchen mehr Wärme im Winter.",
    "El niño come una manzana en el jardín.",
    "¿Dónde está la estación de tren? Está allí.",
    "O coração do Brasil bate em São Paulo.",
    "Zürich und Genève liegen in der Schweiz.",
    "Привет, как дела? Это русский текст.",
    "Москва — столица России, а Киев — столица Украины.",
    "Я люблю читать книги и гулять в парке.",
    "Το ελληνικό αλφάβητο έχει είκοσι τέσσερα γράμματα.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "مرحبا بالعالم",
    "أنا أحب تعلم اللغة العربية كل يوم.",
    "القاهرة هي عاصمة مصر.",
    "東京は日本の首都です。",
    "私は毎朝コーヒーを飲みます。",
    "京都には古いお寺がたくさんあります。",
    "我喜欢学习自然语言处理。",
    "北京是中国的首都，上海是一个大城市。",
    "今天天气很好，我们去公园散步吧。",
    "한국어 문장도 포함합니다.",
    "서울은 대한민국의 수도입니다.",
    "नमस्ते, आप कैसे हैं?",
    "שלום עולם, מה שלומך?",
    "สวัสดีครับ ยินดีที่ได้รู้จัก",
    "Emoji: 😀 🎉 👍 🏽 ❤️ 🇫🇷 👨‍👩‍👧‍👦 🚀 🌍",
    "Naïve façade, résumé, jalapeño, Ångström, smörgåsbord.",
]


def tokenizer_corpus() -> list[str]:
    s1, s2, _ = ec.load_stsb(ec.REPO_ROOT / "data" / "stsb" / "stsb-en-dev.csv")
    # The multi-script sentences repeated, so that their pieces earn places in a small vocabulary.
    return s1 + s2 + MULTI_SCRIPT * 20


# ---------------------------------------------------------------------------------------------
# Tokenizers, each saved by its transformers class into a folder the Transformer module loads.


def wordpiece_vocab(corpus: list[str], specials: list[str], unk: str, lowercase: bool) -> list[str]:
    """A WordPiece vocabulary trained by the `tokenizers` library, the same every run.

    `WordPieceTrainer` is the BPE trainer with `##` before the pieces inside a word, and it
    numbers those pieces in hash-map order, so merges that tie fall differently on each run.
    Here each character inside a word is first replaced by a private-use character of its own,
    so every piece the BPE trainer starts from is in its alphabet (which it sorts), and the
    pieces it learns are mapped back: the same training, made deterministic."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    splitter = pre_tokenizers.BertPreTokenizer()
    words = [w for text in corpus for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text))]
    inner = sorted({c for w in words for c in w[1:]})
    if len(inner) > 6400:
        raise SystemExit(f"error: {len(inner)} characters inside words; the private-use area holds 6400")
    marked = {c: chr(0xE000 + i) for i, c in enumerate(inner)}
    unmarked = {m: c for c, m in marked.items()}
    bpe = Tokenizer(models.BPE(unk_token=unk))
    bpe.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials, show_progress=False)
    bpe.train_from_iterator((w[0] + "".join(marked[c] for c in w[1:]) for w in words), trainer)
    vocab = bpe.get_vocab()

    def wordpiece(piece: str) -> str:
        if piece in specials:
            return piece
        text = "".join(unmarked.get(c, c) for c in piece)
        return f"##{text}" if piece[0] in unmarked else text

    return [wordpiece(piece) for piece in sorted(vocab, key=vocab.__getitem__)]


def write_vocab_txt(folder: Path, vocab: list[str]) -> Path:
    path = folder / "vocab.txt"
    path.write_text("".join(f"{token}\n" for token in vocab), encoding="utf-8")
    return path


def bert_wordpiece(corpus: list[str], folder: Path, lowercase: bool):
    """BERT's WordPiece with [CLS] $A [SEP] (uncased like e5 and the MiniLMs, cased like LaBSE)."""
    from transformers import BertTokenizerFast

    vocab = wordpiece_vocab(corpus, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], "[UNK]", lowercase)
    return BertTokenizerFast(vocab_file=str(write_vocab_txt(folder, vocab)), do_lower_case=lowercase)


def mpnet_wordpiece(corpus: list[str], folder: Path):
    """MPNet's tokenizer: uncased WordPiece under the <s> $A </s> template, as all-mpnet-base-v2."""
    from transformers import MPNetTokenizerFast

    vocab = wordpiece_vocab(corpus, ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>"], "[UNK]", True)
    return MPNetTokenizerFast(vocab_file=str(write_vocab_txt(folder, vocab)), do_lower_case=True)


def roberta_bpe(corpus: list[str], folder: Path):
    """RoBERTa's byte-level BPE and RobertaProcessing (<s> $A </s>), as all-roberta-large-v1."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        corpus, vocab_size=VOCAB, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    bpe.save_model(str(folder))
    return RobertaTokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"))


def modernbert_bpe(corpus: list[str]):
    """ModernBERT's tokenizer: NFC, byte-level BPE without a prefix space, the special tokens
    appended after the learned pieces (as answerdotai/ModernBERT-base numbers them 50280 to 50284,
    so the padding id is the vocabulary's end, not 0 or 1) and the [CLS] $A [SEP] template; the
    model takes no token type ids."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB - len(specials), min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens(specials)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"],
    )


# Qwen2's split (words with their leading character, single digits, punctuation runs, line breaks),
# before the byte-level mapping.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def qwen_bpe(corpus: list[str]):
    """Qwen3-Embedding's tokenizer: NFC, Qwen2's split, byte-level BPE, the special tokens after
    the learned pieces, and a post-processor that appends <|endoftext|> to every text (so the last
    token, which last-token pooling takes, is the end of text); <|endoftext|> pads too, on the
    left, as Qwen/Qwen3-Embedding-0.6B's tokenizer_config.json says."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB - len(specials), min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens(specials)
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A:0 <|endoftext|>:0", pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
        special_tokens=[("<|endoftext|>", eot)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left",
        model_input_names=["input_ids", "attention_mask"],
    )


def gemma_bpe(corpus: list[str]):
    """EmbeddingGemma's tokenizer, in small: SentencePiece-style BPE (spaces replaced by `▁`, no
    pre-tokenizer, so pieces may span words), unknown characters falling back to their UTF-8
    bytes (`<0x00>`..`<0xFF>`, after the special tokens), `<pad>`, `<eos>`, `<bos>`, `<unk>` as
    ids 0 to 3, and `<bos> $A <eos>` around every text; padding on the right."""
    from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.normalizer = normalizers.Replace(" ", "▁")
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB - len(specials) - len(byte_pieces), limit_alphabet=200, show_progress=False,
    )
    bpe.train_from_iterator(corpus, trainer)
    trained = json.loads(bpe.to_str())["model"]
    learned = sorted(trained["vocab"], key=trained["vocab"].__getitem__)
    vocab = {piece: i for i, piece in enumerate(specials + byte_pieces + learned)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m) for m in trained["merges"]], unk_token="<unk>",
                               byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(specials)
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", pair="<bos> $A <eos> $B <eos>", special_tokens=[("<bos>", 2), ("<eos>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>",
        padding_side="right", model_input_names=["input_ids", "attention_mask"],
    )


def xlmr_unigram(corpus: list[str]):
    """A SentencePiece-style Unigram (NFKC, Metaspace) under XLM-R's <s> $A </s> template, as
    paraphrase-multilingual-MiniLM-L12-v2 (a BERT under XLM-R's tokenizer)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=specials, unk_token="<unk>", show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok = Tokenizer.from_str(json.dumps(canonical_unigram(json.loads(tok.to_str()), len(specials))))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return XLMRobertaTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
    )


def canonical_unigram(model: dict, specials: int) -> dict:
    """The trained Unigram model, the same every run. The trainer's scores vary in their last
    digits from run to run, pieces of equal score come in hash-map order, and the characters it
    must keep but did not learn it scores just above the lowest score, 1e-4 apart, in hash-map
    order. So: scores rounded to 9 decimals; the single characters scored within 0.01 of the
    lowest score sorted and scored 1e-4 apart in that order; ties ordered by piece."""
    pieces = model["model"]["vocab"]
    learned = [[piece, round(score, 9)] for piece, score in pieces[specials:]]
    lowest = min(score for _, score in learned)
    band = sorted(piece for piece, score in learned if len(piece) == 1 and score < lowest + 0.01)
    rescored = {piece: round(lowest + 1e-4 * (len(band) - 1 - i), 9) for i, piece in enumerate(band)}
    learned = [[piece, rescored.get(piece, score)] for piece, score in learned]
    model["model"]["vocab"] = pieces[:specials] + sorted(learned, key=lambda p: (-p[1], p[0]))
    return model


# ---------------------------------------------------------------------------------------------
# Fixtures.

# name: tokenizer, architecture, sentence-transformers modules and prompts, and the real model
# whose shape it copies.
FIXTURES = {
    "bert-uncased-prompts": {
        "like": "intfloat/e5-large-v2",
        "tokenizer": "wordpiece-uncased",
        "architecture": "bert",
        "max_seq_length": 512,
        "pooling": "mean",
        "normalize": True,
        "prompts": {"query": "query: ", "passage": "passage: "},
        "seed": 1,
    },
    "bert-uncased-normalized": {
        "like": "sentence-transformers/multi-qa-MiniLM-L6-cos-v1",
        "tokenizer": "wordpiece-uncased",
        "architecture": "bert",
        "max_seq_length": 512,
        "pooling": "mean",
        "normalize": True,
        "seed": 2,
    },
    "roberta-bpe": {
        "like": "sentence-transformers/all-roberta-large-v1",
        "tokenizer": "bpe-roberta",
        "architecture": "roberta",
        "max_seq_length": 128,
        "pooling": "mean",
        "normalize": True,
        "seed": 3,
    },
    "bert-unigram-xlmr": {
        "like": "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "tokenizer": "unigram-xlmr",
        "architecture": "bert",
        "max_seq_length": 128,
        "pooling": "mean",
        "normalize": False,
        "seed": 4,
    },
    "bert-cls-dense": {
        "like": "sentence-transformers/LaBSE",
        "tokenizer": "wordpiece-cased",
        "architecture": "bert",
        "max_seq_length": 256,
        "pooling": "cls",
        "dense": {"out_features": 24, "activation": "tanh"},
        "normalize": True,
        "seed": 5,
    },
    "mpnet": {
        "like": "sentence-transformers/all-mpnet-base-v2",
        "tokenizer": "wordpiece-mpnet",
        "architecture": "mpnet",
        "max_seq_length": 384,
        "pooling": "mean",
        "normalize": True,
        "seed": 6,
    },
    "bert-prompt-excluded": {
        "like": "hkunlp/instructor-base (as sentence-transformers loads it: include_prompt false)",
        "tokenizer": "wordpiece-uncased",
        "architecture": "bert",
        "max_seq_length": 512,
        "pooling": "mean",
        "include_prompt": False,
        "normalize": True,
        "prompts": {
            "query": "Represent the question for retrieving supporting documents: ",
            "document": "Represent the document for retrieval: ",
        },
        "default_prompt_name": "query",
        "seed": 7,
    },
    "modernbert": {
        "like": "nomic-ai/modernbert-embed-base (answerdotai/ModernBERT-base under mean pooling)",
        "tokenizer": "bpe-modernbert",
        "architecture": "modernbert",
        "max_seq_length": 8192,
        "pooling": "mean",
        "normalize": True,
        "seed": 8,
    },
    "qwen3": {
        "like": "Qwen/Qwen3-Embedding-0.6B",
        "tokenizer": "bpe-qwen",
        "architecture": "qwen3",
        "max_seq_length": 32768,
        "pooling": "lasttoken",
        "normalize": True,
        "prompts": {
            "query": "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
            "document": "",
        },
        "seed": 9,
    },
    "qwen2": {
        "like": "Alibaba-NLP/gte-Qwen2-1.5B-instruct (a Qwen2 decoder under last-token pooling)",
        "tokenizer": "bpe-qwen",
        "architecture": "qwen2",
        "max_seq_length": 32768,
        "pooling": "lasttoken",
        "normalize": True,
        "seed": 10,
    },
    "gemma3": {
        "like": "google/embeddinggemma-300m",
        "tokenizer": "bpe-gemma",
        "architecture": "gemma3",
        "max_seq_length": 2048,
        "pooling": "mean",
        "dense": [
            {"out_features": 4 * HIDDEN, "bias": False, "activation": "identity"},
            {"out_features": HIDDEN, "bias": False, "activation": "identity"},
        ],
        "normalize": True,
        "prompts": {
            "query": "task: search result | query: ",
            "document": "title: none | text: ",
            "STS": "task: sentence similarity | query: ",
        },
        "seed": 11,
    },
}

# ModernBERT: three layers, of which layer 0 attends globally (layer_id % 3 == 0) and layers 1
# and 2 to a sliding window of 8 (each token to the 4 on either side), so every reference text
# longer than 9 tokens crosses the window. Each kind of layer has its own rotary base, the local
# one far from the global one (ModernBERT-base's 10,000 would differ from 160,000 only in
# frequencies a window of 8 barely sees): a layer taking the other's base moves some vectors to
# a cosine of 0.997.
MODERNBERT = {
    "num_hidden_layers": 3,
    "global_attn_every_n_layers": 3,
    "local_attention": 8,
    "global_rope_theta": 160000.0,
    "local_rope_theta": 100.0,
}


# Qwen3: grouped-query attention (4 query heads share 2 key/value heads) with heads of 16, not
# hidden_size / heads = 8, so the attention is 64 wide inside a 32-wide model; a rotary base of
# 10,000 (Qwen3-Embedding's 1,000,000 would barely turn the short texts).
QWEN3 = {
    "num_key_value_heads": 2,
    "head_dim": 16,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
}


# Gemma3 as EmbeddingGemma runs it: bidirectional attention; 4 layers whose third attends to every
# token (sliding_window_pattern 3) and the others to a sliding window: sliding_window 10, which
# transformers turns into |i - j| < 10 // 2 + 1, so each token sees the 5 on either side and
# every text of more than 11 tokens crosses the window. The global and local rotary bases far
# apart (10,000 and 100), 4 query heads of 16 sharing 2 key/value heads, and a query scale of
# 24 ** -0.5 where head_dim is 16, so that a layer taking the other base or the usual
# 1 / sqrt(head_dim) changes the vectors.
GEMMA3 = {
    "num_hidden_layers": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "query_pre_attn_scalar": 24,
    "sliding_window": 10,
    "sliding_window_pattern": 3,
    "rope_theta": 10000.0,
    "rope_local_base_freq": 100.0,
    "rms_norm_eps": 1e-6,
}


def make_tokenizer(kind: str, corpus: list[str], folder: Path):
    if kind == "wordpiece-uncased":
        return bert_wordpiece(corpus, folder, lowercase=True)
    if kind == "wordpiece-cased":
        return bert_wordpiece(corpus, folder, lowercase=False)
    if kind == "wordpiece-mpnet":
        return mpnet_wordpiece(corpus, folder)
    if kind == "bpe-roberta":
        return roberta_bpe(corpus, folder)
    if kind == "unigram-xlmr":
        return xlmr_unigram(corpus)
    if kind == "bpe-modernbert":
        return modernbert_bpe(corpus)
    if kind == "bpe-qwen":
        return qwen_bpe(corpus)
    if kind == "bpe-gemma":
        return gemma_bpe(corpus)
    raise SystemExit(f"error: unknown tokenizer kind {kind}")


def make_transformer(architecture: str, tokenizer, max_seq_length: int):
    import torch
    from transformers import (
        BertConfig, BertModel, Gemma3TextConfig, Gemma3TextModel, ModernBertConfig, ModernBertModel, MPNetConfig,
        MPNetModel, Qwen2Config, Qwen2Model, Qwen3Config, Qwen3Model, RobertaConfig, RobertaModel,
    )

    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "initializer_range": INIT_RANGE,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if architecture == "bert":
        return BertModel(BertConfig(max_position_embeddings=512, **common))
    if architecture == "roberta":
        # Positions count from pad_token_id + 1: 514 positions hold 512 tokens, as in roberta-large.
        config = RobertaConfig(max_position_embeddings=514, type_vocab_size=1, bos_token_id=0, eos_token_id=2, **common)
        return RobertaModel(config)
    if architecture == "mpnet":
        config = MPNetConfig(max_position_embeddings=514, relative_attention_num_buckets=32, **common)
        return MPNetModel(config)
    if architecture == "modernbert":
        # No biases anywhere and GeGLU (Wi: 2 x 64 outputs), as ModernBERT-base; every
        # LayerNorm's scale drawn around 1 (its initialisation is all ones), so that a norm
        # applied in the wrong place changes the vectors.
        config = ModernBertConfig(
            max_position_embeddings=max_seq_length, hidden_activation="gelu", norm_eps=1e-5, norm_bias=False,
            attention_bias=False, mlp_bias=False, bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id, cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id, **(common | MODERNBERT),
        )
        model = ModernBertModel(config)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.LayerNorm):
                    module.weight.uniform_(0.5, 1.5)
        return model
    if architecture == "qwen3":
        # No biases, SwiGLU, RMSNorm before each block, on each head's query and key, and after
        # the last layer; every RMSNorm's scale drawn around 1 (its initialisation is all ones),
        # so that a norm applied in the wrong place changes the vectors. No pad_token_id: its
        # embedding row would be zeros, and <|endoftext|>, which pads, also ends every text.
        config = Qwen3Config(
            max_position_embeddings=max_seq_length, hidden_act="silu", attention_bias=False,
            use_sliding_window=False, tie_word_embeddings=False, bos_token_id=None,
            eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), **(common | QWEN3 | {"pad_token_id": None}),
        )
        model = Qwen3Model(config)
    elif architecture == "qwen2":
        # Qwen3's shapes with Qwen2's layers: biases on query, key and value (drawn wide, as
        # the weights), no norm on the heads.
        config = Qwen2Config(
            max_position_embeddings=max_seq_length, hidden_act="silu", use_sliding_window=False,
            tie_word_embeddings=False, bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
            **(common | QWEN3 | {"pad_token_id": None}),
        )
        model = Qwen2Model(config)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("_proj.bias"):
                    parameter.normal_(0.0, INIT_RANGE)
    if architecture == "gemma3":
        # Bidirectional, GELU-tanh GLU, no biases; every RMSNorm scales by 1 + weight, its weight
        # drawn in [-0.5, 0.5] (its initialisation is zeros), so that a norm without the 1, or in
        # the wrong place, changes the vectors.
        config = Gemma3TextConfig(
            max_position_embeddings=max_seq_length, hidden_activation="gelu_pytorch_tanh", attention_bias=False,
            use_bidirectional_attention=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            **(common | GEMMA3),
        )
        model = Gemma3TextModel(config)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("norm.weight"):
                    parameter.uniform_(-0.5, 0.5)
        return model
    if architecture in ("qwen3", "qwen2"):
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith("norm.weight"):
                    parameter.uniform_(0.5, 1.5)
        return model
    raise SystemExit(f"error: unknown architecture {architecture}")


def build(name: str, spec: dict, corpus: list[str], out: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    torch.manual_seed(spec["seed"])
    with tempfile.TemporaryDirectory(prefix=f"fixture-{name}-") as tmp:
        hf = Path(tmp)
        tokenizer = make_tokenizer(spec["tokenizer"], corpus, hf)
        tokenizer.model_max_length = spec["max_seq_length"]
        tokenizer.save_pretrained(str(hf))
        make_transformer(spec["architecture"], tokenizer, spec["max_seq_length"]).save_pretrained(str(hf))
        modules = [Transformer(str(hf), max_seq_length=spec["max_seq_length"])]
        modules.append(Pooling(HIDDEN, pooling_mode=spec["pooling"], include_prompt=spec.get("include_prompt", True)))
        # One Dense module, or several (a list), each from the width the one before gives.
        denses = spec.get("dense", [])
        width = HIDDEN
        for dense in denses if isinstance(denses, list) else [denses]:
            activation = {"tanh": torch.nn.Tanh(), "identity": torch.nn.Identity()}[dense["activation"]]
            modules.append(
                Dense(width, dense["out_features"], bias=dense.get("bias", True), activation_function=activation)
            )
            width = dense["out_features"]
        if spec["normalize"]:
            modules.append(Normalize())
        model = SentenceTransformer(
            modules=modules, device="cpu", prompts=spec.get("prompts"), default_prompt_name=spec.get("default_prompt_name")
        )
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        model.save(str(target), create_model_card=False)
        if spec["architecture"] == "gemma3":
            unhalve_sliding_window(target / "config.json", GEMMA3["sliding_window"])


def unhalve_sliding_window(path: Path, sliding_window: int) -> None:
    """Gemma3TextConfig with use_bidirectional_attention turns sliding_window into
    sliding_window // 2 + 1 each time it is made, saves what it turned it into, and the next load
    turns that again (this model was loaded twice before its save). google/embeddinggemma-300m's
    config.json holds the value before the turn (512), so that value is written back: the fixture
    loads as the model it imitates, with the window `reference` checks."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config["sliding_window"] = sliding_window
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def reference(name: str, spec: dict, out: Path) -> dict:
    """What sentence-transformers gives for the saved fixture, loaded as a user would load it."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    folder = out / name
    model = SentenceTransformer(str(folder), device="cpu")
    if model.max_seq_length != spec["max_seq_length"]:
        raise SystemExit(f"error: {name}: max_seq_length {model.max_seq_length}, expected {spec['max_seq_length']}")
    if spec["architecture"] == "gemma3":
        window = model[0].auto_model.config.sliding_window
        if window != GEMMA3["sliding_window"] // 2 + 1:
            raise SystemExit(f"error: {name}: the loaded sliding_window is {window}, expected {GEMMA3['sliding_window'] // 2 + 1}")
    texts = ec.load_texts()
    cfg = ec.read_st_config(folder)

    def encoded(prompt_name: str | None, prompt: str) -> dict:
        embeddings = model.encode(texts, prompt_name=prompt_name, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
        return {
            "token_counts": [len(ids) for ids in ec.st_token_ids(model, [prompt + t for t in texts])],
            "embeddings": [[float(f"{x:.9g}") for x in row] for row in embeddings.tolist()],
        }

    default_prompt = model.prompts.get(model.default_prompt_name, "") if model.default_prompt_name else ""
    plain = encoded(None, default_prompt)
    versions = ec.versions()
    return {
        "fixture": name,
        "like": spec["like"],
        "made_by": "scripts/make_fixtures.py (cargo xtask fixtures)",
        "sentence_transformers_version": versions.get("sentence-transformers"),
        "transformers_version": versions.get("transformers"),
        "torch_version": versions.get("torch"),
        "architecture": spec["architecture"],
        "tokenizer": spec["tokenizer"],
        "max_seq_length": cfg.max_seq_length,
        "pooling": cfg.pooling,
        "include_prompt": cfg.include_prompt,
        "dense": [{"path": d.path, "in_features": d.weight.shape[1], "out_features": d.weight.shape[0], "activation": d.activation} for d in cfg.dense],
        "normalized": cfg.normalize,
        "dimension": cfg.dimension,
        "default_prompt_name": model.default_prompt_name,
        "texts": texts,
        "token_counts": plain["token_counts"],
        "embeddings": plain["embeddings"],
        "prompts": {
            prompt_name: {"prompt": prompt} | encoded(prompt_name, prompt)
            for prompt_name, prompt in sorted(model.prompts.items())
            if prompt
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder of the fixtures (fixtures/architectures)")
    p.add_argument("--only", action="append", choices=sorted(FIXTURES), help="make only this fixture (repeatable)")
    args = p.parse_args()
    corpus = tokenizer_corpus()
    for name in args.only or list(FIXTURES):
        spec = FIXTURES[name]
        ec.log(f"{name}: like {spec['like']}")
        build(name, spec, corpus, args.out)
        fixture = reference(name, spec, args.out)
        with open(args.out / name / "reference.json", "w", encoding="utf-8") as f:
            f.write(ec.dump_json_rows(fixture))
        print(f"{name}: wrote {args.out / name} (dimension {fixture['dimension']}, {len(fixture['texts'])} texts)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""tokenizer_ref.py — reference token ids, chat renderings and loss-mask spans
for test_tokenizer_ref, computed independently of the C code.

usage: tokenizer_ref.py MODEL_DIR DATA_DIR OUT_TEXTS OUT_CHATS

Tokenizer reference: SentencePiece on MODEL_DIR/tokenizer.model (Debian's
python3-sentencepiece), which agrees with tokenizer.json on plain text.  Text
is first split on the added-token strings of tokenizer.json (longest match at
the leftmost position), which become their ids, and every remaining piece is
encoded on its own — exactly what the `tokenizers` library does, and what
SentencePiece alone does not (it would spell "</s>" as three pieces).  The
model's SentencePiece normalizer is the identity with a dummy prefix and no
whitespace collapsing, so on each piece it equals tokenizer.json's
"prepend ▁, spaces → ▁"; the hard cases in test_tokenizer.c check that.

Template reference: the checkpoint's chat_template rendered by jinja2 (Debian's
python3-jinja2) in the environment transformers' apply_chat_template builds:
ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks), tojson overridden
by json.dumps(ensure_ascii=False), special tokens as variables.

Mask reference (spec §13.5, computed the independent way): the token index of
a span boundary is the length of the tokenization of the rendered prefix up
to that character.  Assistant spans are located by rendering with the
message's content replaced by a marker.

OUT_TEXTS: one JSON array per line: [text, [ids]] for every message content
in DATA_DIR/*.jsonl.zst (SFT messages, DPO prompt/chosen/rejected) and for
generated hard strings.  OUT_CHATS: one object per line: {"src", "messages",
"tools", "rendered", "ids", "spans"} for every SFT conversation and every DPO
prompt+chosen / prompt+rejected conversation; "ids" and "spans" (token-index
[start, end) of each assistant message, content.strip() + "\\n") are given for
every 4th conversation and null otherwise.  Two worker processes by default
(HY_REF_JOBS).
"""
import glob
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys

import jinja2
import sentencepiece as spm
from jinja2.sandbox import ImmutableSandboxedEnvironment


class Tokenizer:
    def __init__(self, model_dir):
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
        with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        self.added = {a["content"]: a["id"] for a in tj["added_tokens"]}
        alts = sorted(self.added, key=len, reverse=True)  # longest first: leftmost-longest match
        self.split_re = re.compile("|".join(re.escape(a) for a in alts))

    def encode(self, text):
        ids, pos = [], 0
        for m in self.split_re.finditer(text):
            if m.start() > pos:
                ids += self.sp.encode(text[pos:m.start()])
            ids.append(self.added[m.group()])
            pos = m.end()
        if pos < len(text):
            ids += self.sp.encode(text[pos:])
        return ids


def make_env():
    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def read_jsonl_zst(path):
    out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    for lineno, line in enumerate(out.decode("utf-8").split("\n"), 1):
        if line.strip():
            yield lineno, json.loads(line)


def hard_strings():
    """Deterministic awkward strings beyond the dataset."""
    rng = random.Random(1234)
    alphabet = (list("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,;:!?'\"()[]{}<>/\\_-+=*&^%$#@~`|")
                + [" ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u2581", "\u00a0", "\u3000", "\u200b", "\ufeff"]
                + ["é", "ß", "ñ", "ü", "Ω", "я", "ж", "א", "ع", "ह", "ก", "日", "本", "語", "한", "국", "中", "文"]
                + ["😀", "🎉", "👍🏽", "🇫🇷", "𝔘", "\U0010fffd", "\x00", "\x7f", "\x1f"]
                + ["</s>", "<s>", "<unk>", "[PAD]", "<extra_id_0>", "<extra_id_1>", "<0x0A>", "<s", "</"])
    out = []
    for _ in range(3000):
        n = rng.choice([1, 2, 3, 5, 8, 13, 40, 200])
        out.append("".join(rng.choice(alphabet) for _ in range(n)))
    letters = "abcdefghijklmnopqrstuvwxyz"
    out.append("".join(rng.choice(letters) for _ in range(10000)))
    out.append("a" * 10000)
    out.append(" " * 10000)
    out.append("ab " * 3000)
    out.append("\u2581" * 5000 + "x")
    out.append("".join(rng.choice(["日", "本", "😀", "a", " "]) for _ in range(10000)))
    return out


def conversations(data_dir):
    """(src, messages, tools) for every SFT conversation and DPO pair side."""
    for path in sorted(glob.glob(os.path.join(data_dir, "*.jsonl.zst"))):
        name = os.path.basename(path)
        for lineno, rec in read_jsonl_zst(path):
            if "messages" in rec:
                yield "%s:%d" % (name, lineno), rec["messages"], rec.get("tools")
            else:
                for side in ("chosen", "rejected"):
                    yield "%s:%d:%s" % (name, lineno, side), rec["prompt"] + rec[side], rec.get("tools")


# Workers (one per process): the tokenizer and the template, built once.
G = {}


def init_worker(model_dir):
    G["tok"] = Tokenizer(model_dir)
    with open(os.path.join(model_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    G["tpl"] = make_env().from_string(cfg["chat_template"])
    G["special"] = {k: cfg[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if isinstance(cfg.get(k), str)}


def render(msgs, tools):
    return G["tpl"].render(messages=msgs, tools=tools, add_generation_prompt=False, **G["special"])


def text_line(t):
    return json.dumps([t, G["tok"].encode(t)], ensure_ascii=False) + "\n"


def chat_line(job):
    """Render every conversation; tokenize it and locate the assistant spans
    for every CHAT_IDS_EVERY-th one (SentencePiece runs at ~1 MB/s, so all of
    them would take minutes; the texts file covers every content string)."""
    k, (src, msgs, tools) = job
    tok = G["tok"]
    rendered = render(msgs, tools)
    rec = {"src": src, "messages": msgs, "tools": tools, "rendered": rendered, "ids": None, "spans": None}
    if k % CHAT_IDS_EVERY == 0:
        spans = []
        for i, m in enumerate(msgs):
            if m["role"] != "assistant":
                continue
            marker = "\x01MARK%d\x01" % i
            probe = [dict(x, content=marker) if j == i else x for j, x in enumerate(msgs)]
            a = render(probe, tools).index(marker)
            b = a + len(m["content"].strip()) + 1
            assert rendered[b - 1] == "\n"
            spans.append([len(tok.encode(rendered[:a])), len(tok.encode(rendered[:b]))])
        rec["ids"] = tok.encode(rendered)
        rec["spans"] = spans
    return json.dumps(rec, ensure_ascii=False) + "\n"


CHAT_IDS_EVERY = 4


def main():
    model_dir, data_dir, out_texts, out_chats = sys.argv[1:5]
    convs = list(conversations(data_dir))
    texts, seen = [], set()
    for t in [m["content"] for _, msgs, _ in convs for m in msgs] + hard_strings():
        if t not in seen:
            seen.add(t)
            texts.append(t)
    with multiprocessing.Pool(int(os.environ.get("HY_REF_JOBS", "2")), init_worker, (model_dir,)) as pool:
        with open(out_texts, "w", encoding="utf-8") as f:
            for line in pool.imap(text_line, texts, chunksize=256):
                f.write(line)
        with open(out_chats, "w", encoding="utf-8") as f:
            for line in pool.imap(chat_line, enumerate(convs), chunksize=64):
                f.write(line)
    print("tokenizer_ref.py: %d texts, %d conversations (every %dth tokenized)" % (len(texts), len(convs), CHAT_IDS_EVERY))


if __name__ == "__main__":
    main()

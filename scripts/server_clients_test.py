"""Checks a running `embed serve` with real Python clients.

Uses the `openai` package (`client.embeddings.create`, float and base64) and
`huggingface_hub`'s `InferenceClient(base_url).feature_extraction` and `.sentence_similarity`
(pointed at `/similarity`, as for text-embeddings-inference), and compares every vector and
similarity with the expected ones (cosine >= 0.99999; similarities within 1e-4). Expected vectors come from a JSON file
`{"texts": [...], "embeddings": [[...]]}` (the Rust test writes it from the library), or, with
`--embed-bin`, from running `embed embed` on the texts.

    python scripts/server_clients_test.py --base-url http://127.0.0.1:8080 --expected expected.json

Exits non-zero on the first mismatch. Install the clients with
`pip install -r scripts/requirements-clients.txt`.
"""

import argparse
import json
import math
import subprocess
import sys

TOLERANCE = 0.99999
DEFAULT_TEXTS = ["This is a sample text", "The quick brown fox jumps over the lazy dog."]


def cosine(a, b):
    if len(a) != len(b):
        raise AssertionError(f"widths differ: {len(a)} != {len(b)}")
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / max(na * nb, 1e-12)


def check(name, actual, expected):
    if len(actual) != len(expected):
        raise AssertionError(f"{name}: {len(actual)} vectors for {len(expected)} texts")
    for i, (a, e) in enumerate(zip(actual, expected)):
        c = cosine([float(x) for x in a], e)
        if c < TOLERANCE:
            raise AssertionError(f"{name}: text {i} has cosine {c}")
    print(f"ok: {name} ({len(actual)} vectors)")


def load_expected(args):
    if args.expected:
        with open(args.expected, encoding="utf-8") as f:
            data = json.load(f)
        return data["texts"], data["embeddings"]
    texts = DEFAULT_TEXTS
    out = subprocess.run([args.embed_bin, "embed", *texts], check=True, capture_output=True, text=True)
    return texts, json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--expected", help="JSON file with texts and their expected embeddings")
    parser.add_argument("--embed-bin", default="embed", help="the embed binary, when --expected is not given")
    parser.add_argument("--api-key", default="unused", help="API key, when the server asks for one")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    args = parser.parse_args()
    texts, expected = load_expected(args)
    base = args.base_url.rstrip("/")

    import openai
    from huggingface_hub import InferenceClient

    client = openai.OpenAI(base_url=f"{base}/v1", api_key=args.api_key)
    response = client.embeddings.create(model=args.model, input=texts)
    check("openai float", [d.embedding for d in sorted(response.data, key=lambda d: d.index)], expected)
    if response.usage.prompt_tokens <= 0:
        raise AssertionError(f"openai usage: {response.usage}")
    # The openai package asks for base64 by default and decodes it itself; ask explicitly too.
    response = client.embeddings.create(model=args.model, input=texts, encoding_format="base64")
    data = sorted(response.data, key=lambda d: d.index)
    if isinstance(data[0].embedding, str):
        import base64
        import struct

        decoded = []
        for d in data:
            raw = base64.b64decode(d.embedding)
            decoded.append(list(struct.unpack(f"<{len(raw) // 4}f", raw)))
    else:
        decoded = [d.embedding for d in data]
    check("openai base64", decoded, expected)
    response = client.embeddings.create(model=args.model, input=texts[0], dimensions=32)
    vector = response.data[0].embedding
    if len(vector) != 32 or abs(math.sqrt(sum(x * x for x in vector)) - 1.0) > 1e-4:
        raise AssertionError("openai dimensions: not a unit vector of 32")
    check("openai dimensions", [vector], [expected[0][:32]])

    hf = InferenceClient(base_url=base, api_key=args.api_key)
    vectors = [hf.feature_extraction(text).tolist() for text in texts]
    vectors = [v[0] if v and isinstance(v[0], list) else v for v in vectors]
    check("huggingface_hub feature_extraction", vectors, expected)

    # huggingface_hub posts every task to the URL it is given; text-embeddings-inference answers
    # sentence similarity on /similarity (on / only when started for that task).
    similarities = hf.sentence_similarity(texts[0], other_sentences=texts[1:], model=f"{base}/similarity")
    wanted = [cosine(expected[0], e) for e in expected[1:]]
    if len(similarities) != len(wanted) or any(abs(a - b) > 1e-4 for a, b in zip(similarities, wanted)):
        raise AssertionError(f"huggingface_hub sentence_similarity: {similarities} != {wanted}")
    print(f"ok: huggingface_hub sentence_similarity ({len(similarities)} similarities)")

    try:
        client.embeddings.create(model="no-such-model", input="x")
    except openai.NotFoundError as error:
        print(f"ok: openai unknown model raises NotFoundError ({error.status_code})")
    else:
        raise AssertionError("an unknown model did not fail")
    return 0


if __name__ == "__main__":
    sys.exit(main())

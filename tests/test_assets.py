"""Model specs resolve to local folders; anything else is one clear error."""

import pytest

from relate_ray.assets import DEFAULT_EMBEDDER, ModelNotFoundError, resolve_model


def test_missing_model_folder_is_one_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match=r"model '.*nope': no such folder"):
        resolve_model(str(tmp_path / "nope"))


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json or modules.json"):
        resolve_model(str(tmp_path))


def test_local_hf_folder_is_used_as_is(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == tmp_path


def test_bundled_embedder_embeds_offline():
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model(DEFAULT_EMBEDDER)), device="cpu")
    vectors = model.encode(["cheap flights to lisbon", "lisbon airfare deals", "yoga mat"], normalize_embeddings=True)
    assert vectors.shape == (3, 384)
    # Related queries sit closer than unrelated ones: the embedder is real, not a stand-in.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2

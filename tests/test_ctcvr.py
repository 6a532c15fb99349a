"""The CTCVR model: ESMM loss and AUC by hand, log validation, and a tiny real training run."""

import json
import math

import numpy as np
import pytest
import torch

from relate_ray.ctcvr.logs import read_impressions
from relate_ray.ctcvr.metrics import roc_auc
from relate_ray.ctcvr.model import esmm_loss, log_ctcvr
from relate_ray.data.readers import DataFileError


def test_esmm_loss_hand_computed():
    ctr_logit, cvr_logit = torch.tensor([0.0, math.log(3.0)]), torch.tensor([0.0, 0.0])
    click, conversion = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0])
    # pCTR = [0.5, 0.75]; pCTCVR = [0.25, 0.375]
    ctr_bce = -(math.log(0.5) + math.log(0.25)) / 2
    ctcvr_bce = -(math.log(0.25) + math.log(0.625)) / 2
    assert esmm_loss(ctr_logit, cvr_logit, click, conversion).item() == pytest.approx(ctr_bce + ctcvr_bce, rel=1e-5)


def test_aggregated_rows_give_the_per_impression_loss():
    ctr_logit, cvr_logit = torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])
    # Row 0 stands for 4 impressions: 2 clicks, 1 of them converted. Row 1: 2 impressions, no click.
    expanded = esmm_loss(ctr_logit[[0, 0, 0, 0, 1, 1]], cvr_logit[[0, 0, 0, 0, 1, 1]],
                         torch.tensor([1.0, 1, 0, 0, 0, 0]), torch.tensor([1.0, 0, 0, 0, 0, 0]))
    aggregated = esmm_loss(ctr_logit, cvr_logit, torch.tensor([0.5, 0.0]), torch.tensor([0.25, 0.0]),
                           weight=torch.tensor([4.0, 2.0]))
    assert aggregated.item() == pytest.approx(expanded.item(), rel=1e-6)


def test_log_ctcvr_is_stable_for_extreme_logits():
    value = log_ctcvr(torch.tensor([-200.0]), torch.tensor([-200.0]))
    assert torch.isfinite(value).all() and value.item() == pytest.approx(-400.0)
    loss = esmm_loss(torch.tensor([50.0]), torch.tensor([50.0]), torch.tensor([1.0]), torch.tensor([0.0]))
    assert torch.isfinite(loss)


def test_roc_auc_with_ties_hand_computed():
    labels = np.array([0, 0, 1, 1, 0])
    scores = np.array([0.1, 0.4, 0.4, 0.8, 0.2])
    # Pairs (pos, neg): 0.4 vs {0.1, 0.4, 0.2} -> 1 + 0.5 + 1; 0.8 vs all -> 3. AUC = 5.5 / 6.
    assert roc_auc(labels, scores) == pytest.approx(5.5 / 6)
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.3])))


def impression(**changes):
    row = {"request_id": "r1", "query": "cheap flights", "bidword": "flights", "category": "travel",
           "title": "Flights from $59", "description": "Book now.", "click": 1, "conversion": 0}
    row.update(changes)
    return json.dumps(row)


def test_bad_impression_rows_are_skipped_and_named(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join([impression(), impression(click=0, conversion=1), impression(query=""),
                               "{oops", impression(click=2)]) + "\n")
    log = read_impressions(path)
    assert len(log) == 1 and log.bad_rows == 4
    assert log.shown[0] == f"{path}:2: field 'conversion': a conversion without a click"
    assert log.shown[1] == f"{path}:3: field 'query': expected a non-empty string"
    assert log.shown[3] == f"{path}:5: field 'click': expected 0 or 1, got 2"


def test_missing_or_useless_log_is_a_file_error(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_impressions(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text("[]\n")
    with pytest.raises(DataFileError, match="no usable impression rows"):
        read_impressions(tmp_path / "bad.jsonl")


@pytest.fixture(scope="module")
def tiny_ctcvr(tmp_path_factory):
    """A CTCVR model trained for 30 epochs on 60,000 simulated impressions of 200 requests (~20 s):
    the least that learns the market's ranking (3,000 impressions of 60 requests learned nothing, a
    constant pCTCVR)."""
    from relate_ray.ctcvr.train import TrainOptions, train
    from relate_ray.data.synth import generate_requests
    from relate_ray.data.writers import write_jsonl
    from relate_ray.sim.history import impression_logs

    folder = tmp_path_factory.mktemp("ctcvr")
    requests = generate_requests(200, "en", seed=3)
    logs = folder / "imp.jsonl"
    write_jsonl(logs, impression_logs(requests, 60_000, seed=3))
    metrics = train(logs, folder / "model", opts=TrainOptions(max_epochs=30))
    return folder / "model", requests, metrics


@pytest.mark.slow
def test_tiny_training_run_saves_a_model_that_ranks_good_ads_above_bad(tiny_ctcvr):
    import random

    from relate_ray.ctcvr.scorer import CTCVRScorer
    from relate_ray.data.adformat import ParsedAd
    from relate_ray.sim.history import historical_ads

    model, requests, metrics = tiny_ctcvr
    assert metrics["train_impressions"] + metrics["valid_impressions"] + metrics["test_impressions"] == 60_000
    # The saved model, read back, has learned what the market pays for: over the requests, the
    # good templates' ads get a higher pCTCVR than the bad templates' ads.
    rng = random.Random(0)
    by_tier: dict[str, list] = {"good": [], "bad": []}
    for request in requests:
        for ad in historical_ads(request, rng):
            if ad.tier in by_tier:
                by_tier[ad.tier].append((request, ParsedAd(ad.title, ad.description, ok=True)))
    scorer = CTCVRScorer(model)
    mean = {tier: float(scorer.predict([r for r, _ in pairs], [a for _, a in pairs])[1].mean())
            for tier, pairs in by_tier.items()}
    assert mean["good"] > 1.25 * mean["bad"], mean  # 1.6x on this fixture


@pytest.mark.slow
def test_an_unservable_answer_earns_nothing_by_default_and_the_reference_or_its_content_as_options(tiny_ctcvr):
    from relate_ray.ctcvr.scorer import CTCVRScorer
    from relate_ray.data.adformat import ParsedAd, parse_ad, render_ad
    from relate_ray.rewards.base import RewardBatch
    from relate_ray.rewards.ctcvr import CTCVROptions, CTCVRReward

    model, requests, _ = tiny_ctcvr
    request = requests[0]
    rambling = " ".join(request.selling_points) + " and more, call now, " + request.bidword
    formatted = render_ad(f"{request.bidword} deals", request.selling_points[0])
    batch = RewardBatch([request] * 2, [rambling, formatted])
    scorer = CTCVRScorer(model)
    p_formatted = scorer.predict([request], [parse_ad(formatted)])[1][0]
    p_reference = scorer.predict([request], [ParsedAd(request.bidword, "", ok=True)])[1][0]
    lift = np.log(p_formatted / p_reference)

    # Default: never shown, so pCTCVR 0; relative mode scores the floor, the servable ad its lift.
    default = CTCVRReward(CTCVROptions(model_dir=str(model), relative=True, floor=-5.0))(batch)
    assert default.scores[0] == -5.0
    assert default.scores[1] == pytest.approx(max(lift, -5.0), abs=1e-5)
    assert default.info["servable"] == 0.5 and default.info["p_ctcvr"] == pytest.approx(p_formatted / 2, rel=1e-5)
    assert default.info["servable_lift"] == pytest.approx(lift, abs=1e-5)
    assert CTCVRReward(CTCVROptions(model_dir=str(model), relative=False))(batch).scores[0] == 0.0  # absolute: 0 %

    relative = CTCVRReward(CTCVROptions(model_dir=str(model), relative=True, malformed="reference"))(batch)
    assert relative.scores[0] == 0.0  # log-lift over the reference: the reference is what would run
    assert relative.scores[1] == pytest.approx(lift, abs=1e-5)
    percent = CTCVRReward(CTCVROptions(model_dir=str(model), relative=False, malformed="reference"))(batch).scores[0]
    assert percent == pytest.approx(100 * p_reference, rel=1e-5)
    # Read whole, the rambling answer is scored as if it were an ad.
    p_rambling = scorer.predict([request], [ParsedAd(rambling.strip(), "", ok=False)])[1][0]
    content = CTCVRReward(CTCVROptions(model_dir=str(model), relative=True, malformed="content"))(batch)
    assert content.scores[0] == pytest.approx(np.log(p_rambling / p_reference), abs=1e-5)
    with pytest.raises(ValueError, match="malformed: must be one of"):
        CTCVRReward(CTCVROptions(model_dir=str(model), malformed="zero"))


@pytest.mark.slow
def test_the_ctcvr_and_relevance_rewards_in_one_worker_hold_one_embedder(tiny_ctcvr):
    """Both embed with the run's embedder and share a worker group: a second copy of EmbeddingGemma
    (1.2 GB) is what pushed the Chinese run over 24 GiB. Freed with its last holder."""
    import gc
    import weakref

    from relate_ray.assets import resolve_model
    from relate_ray.ctcvr.features import load_embedder
    from relate_ray.rewards.ctcvr import CTCVROptions, CTCVRReward
    from relate_ray.rewards.registry import reward_spec
    from relate_ray.rewards.semantic import RelevanceOptions, RelevanceReward

    assert reward_spec("ctcvr").group == reward_spec("relevance").group
    model, _, _ = tiny_ctcvr
    ctcvr = CTCVRReward(CTCVROptions(model_dir=str(model)))
    relevance = RelevanceReward(RelevanceOptions())  # the bundled embedder, as the tiny CTCVR model's
    assert relevance.model is ctcvr.scorer.encoder.model
    other_dtype = load_embedder(str(resolve_model(ctcvr.scorer.meta["embedder"])), dtype="bfloat16")
    assert other_dtype is not relevance.model
    shared = weakref.ref(relevance.model)
    del ctcvr, relevance, other_dtype
    gc.collect()
    assert shared() is None


def test_the_log_lift_is_clipped_below_at_the_floor():
    from relate_ray.ctcvr.scorer import ctcvr_reward

    p = np.array([0.0, 0.001, 0.004, 0.02])
    baseline = np.full(4, 0.004)
    lift = ctcvr_reward(p, baseline, floor=-2.0)
    assert lift[0] == -2.0 and lift[1] == pytest.approx(np.log(0.25)) and lift[2] == 0.0
    assert lift[3] == pytest.approx(np.log(5.0))
    assert ctcvr_reward(p, baseline)[0] < -10  # no floor: 0 is the log of 1e-9
    assert ctcvr_reward(p, None, floor=-2.0)[0] == 0.0  # absolute: percent, never clipped


def test_each_embedder_gets_its_own_ctcvr_model_folder(tmp_path):
    # A CTCVR model reads its embedder's vectors: one cached under the data set's name alone was
    # reused by a run with another embedder (the zh experiment), features of another size.
    from relate_ray.ctcvr.train import embedder_key

    assert embedder_key("all-minilm-l6-v2") == "all-minilm-l6-v2"
    assert embedder_key("embeddinggemma-300m") == "embeddinggemma-300m"
    one, two = tmp_path / "a" / "model", tmp_path / "b" / "model"
    assert embedder_key(str(one)).startswith("model-") and embedder_key(str(one)) != embedder_key(str(two))
    assert "/" not in embedder_key(str(one))

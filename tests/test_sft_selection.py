"""The SFT baseline's data and objective: the logged best ads, and the NLL on the same learner."""

import pytest
import torch

from relate_ray.algo.loss import sft_loss
from relate_ray.data.readers import DataFileError
from relate_ray.evaluation.sft_data import aggregate_logs, read_logs, select_best


def _rows(request_id, title, impressions, conversions, clicks=None):
    clicks = conversions if clicks is None else clicks
    return [{"request_id": request_id, "title": title, "description": "d", "click": int(i < clicks),
             "conversion": int(i < conversions)} for i in range(impressions)]


def test_the_prior_keeps_one_lucky_conversion_from_outranking_a_steady_ad():
    rows = _rows("r1", "lucky", 1, 1) + _rows("r1", "steady", 300, 12) + _rows("r2", "plain", 2000, 10)
    ads = aggregate_logs(rows)
    assert {(a.title, a.impressions, a.conversions) for a in ads} == {("lucky", 1, 1), ("steady", 300, 12),
                                                                      ("plain", 2000, 10)}
    best = select_best(ads, prior_impressions=200)
    assert [a.title for a in best] == ["steady"]  # r2's only ad converts below the log's mean
    raw = select_best(ads, prior_impressions=0)
    assert raw[0].title == "lucky"  # without the prior, 1 of 1 is a 100 % rate


def test_selection_by_clicks_and_per_request_counts():
    rows = (_rows("r1", "a", 100, 0, clicks=20) + _rows("r1", "b", 100, 0, clicks=10)
            + _rows("r1", "c", 100, 0, clicks=1))
    picked = select_best(aggregate_logs(rows), signal="ctr", prior_impressions=10, per_request=2, min_lift=0.0)
    assert [a.title for a in picked] == ["a", "b"]
    with pytest.raises(ValueError, match="signal"):
        select_best(aggregate_logs(rows), signal="cvr")


def test_a_malformed_log_line_is_named(tmp_path):
    path = tmp_path / "logs.jsonl"
    path.write_text('{"request_id": "r", "title": "t", "description": "d", "click": 0, "conversion": 0}\n{"oops": 1}\n')
    with pytest.raises(DataFileError, match=r"logs.jsonl:2: not an impression row"):
        read_logs(path)


def test_sft_loss_is_the_mean_token_nll_and_its_gradient():
    logp = torch.log(torch.tensor([[0.5, 0.25, 0.9], [0.1, 0.2, 0.3]])).requires_grad_()
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    loss, stats = sft_loss(logp, mask)
    expected = -(logp[0, 0] + logp[0, 1] + logp[1, 0]) / 3
    assert loss.item() == pytest.approx(expected.item())
    assert stats["nll"] == pytest.approx(expected.item())
    loss.backward()
    assert torch.allclose(logp.grad, -mask / 3)  # padding gets no gradient

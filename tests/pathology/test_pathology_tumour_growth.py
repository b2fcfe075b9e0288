"""Tests of radsynth.pathology.tumour_growth: Gompertz and exponential tumour volume over time."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.pathology.tumour_growth import STENSJOEN_2015_SGR_PER_DAY, RandomTumourGrowth, TumourGrowth

volumes = st.floats(min_value=0.05, max_value=200.0, allow_nan=False)
rates = st.floats(min_value=1e-4, max_value=0.2, allow_nan=False)
days = st.floats(min_value=0.0, max_value=3650.0, allow_nan=False)


@st.composite
def growth_models(draw):
    model = draw(st.sampled_from(["gompertz", "exponential"]))
    v0 = draw(volumes)
    rate = draw(rates)
    vmax = v0 * draw(st.floats(min_value=1.02, max_value=50.0)) if model == "gompertz" else None
    return TumourGrowth(model, v0, rate, None if vmax is None else min(vmax, 1500.0))


@settings(max_examples=300, deadline=None)
@given(growth_models(), days, days)
def test_volume_starts_at_v0_is_monotone_and_gompertz_is_bounded(g, t1, t2):
    assert g.volume_ml(0.0) == pytest.approx(g.initial_volume_ml, rel=1e-12)
    lo, hi = sorted((t1, t2))
    v_lo, v_hi = g.volume_ml(lo), g.volume_ml(hi)
    assert v_lo <= v_hi  # monotone (non-decreasing in floating point; strictly increasing analytically)
    assert v_lo >= g.initial_volume_ml * (1 - 1e-12)
    if g.model == "gompertz":
        assert v_hi <= g.max_volume_ml * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(growth_models())
def test_initial_specific_growth_rate_is_alpha_and_strictly_increasing_early(g):
    dt = 1e-3
    slope = (math.log(g.volume_ml(dt)) - math.log(g.volume_ml(0.0))) / dt
    assert slope == pytest.approx(g.specific_growth_rate_per_day, rel=2e-2)
    t = np.linspace(0.0, 0.5 / g.specific_growth_rate_per_day, 50)  # before saturation: strictly increasing
    assert np.all(np.diff(g.volume_ml(t)) > 0)


@settings(max_examples=200, deadline=None)
@given(volumes, rates)
def test_exponential_doubles_in_its_doubling_time(v0, rate):
    g = TumourGrowth("exponential", v0, rate)
    assert g.volume_ml(g.doubling_time_days) == pytest.approx(2 * v0, rel=1e-9)
    assert g.volume_ml(3 * g.doubling_time_days) == pytest.approx(8 * v0, rel=1e-9)


def test_published_glioblastoma_rate_gives_published_doubling_time():
    # Stensjoen et al., Neuro-Oncology 2015: median SGR 1.4 %/day, volume doubling time 49.6 days
    g = TumourGrowth("exponential", 10.0, STENSJOEN_2015_SGR_PER_DAY)
    assert g.doubling_time_days == pytest.approx(49.6, abs=0.2)


def test_gompertz_closed_form_and_approach_to_capacity():
    g = TumourGrowth("gompertz", 10.0, 0.014, 100.0)
    b = 0.014 / math.log(10.0)
    assert g.gompertz_rate_per_day == pytest.approx(b)
    for t in (0.0, 30.0, 365.0):
        assert g.volume_ml(t) == pytest.approx(10.0 * math.exp(math.log(10.0) * (1 - math.exp(-b * t))), rel=1e-12)
    assert g.volume_ml(5000.0) == pytest.approx(100.0, rel=1e-6)
    # slower than exponential at the same initial rate
    assert g.volume_ml(180.0) < TumourGrowth("exponential", 10.0, 0.014).volume_ml(180.0)


def test_arrays_in_arrays_out():
    g = TumourGrowth("gompertz", 5.0, 0.02, 80.0)
    v = g.volume_ml([0, 10, 20])
    assert isinstance(v, np.ndarray) and v.shape == (3,)
    assert isinstance(g.volume_ml(10), float)


def test_twin_round_trips_through_json_and_random_component_is_seeded():
    r = RandomTumourGrowth()
    a = r.sample(np.random.default_rng(7))
    b = r.sample(np.random.default_rng(7))
    assert a == b
    assert TumourGrowth.from_dict(json.loads(json.dumps(a.to_dict()))) == a
    assert RandomTumourGrowth.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert r.initial_volume_ml[0] <= a.initial_volume_ml <= r.initial_volume_ml[1]
    assert r.specific_growth_rate_per_day[0] <= a.specific_growth_rate_per_day <= r.specific_growth_rate_per_day[1]
    assert r.max_volume_ml[0] <= a.max_volume_ml <= r.max_volume_ml[1]
    e = RandomTumourGrowth(model="exponential").sample(np.random.default_rng(7))
    assert e.max_volume_ml is None and e.initial_volume_ml == a.initial_volume_ml  # same stream whatever the model
    assert r.largest_volume_ml(180.0) >= a.volume_ml(180.0)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        (dict(model="logistic", initial_volume_ml=5, specific_growth_rate_per_day=0.01), "model"),
        (dict(model="exponential", initial_volume_ml=-1, specific_growth_rate_per_day=0.01), "initial_volume_ml"),
        (dict(model="exponential", initial_volume_ml=5, specific_growth_rate_per_day=0.5), "specific_growth_rate_per_day"),
        (dict(model="gompertz", initial_volume_ml=5, specific_growth_rate_per_day=0.01), "max_volume_ml"),
        (dict(model="gompertz", initial_volume_ml=5, specific_growth_rate_per_day=0.01, max_volume_ml=5), "max_volume_ml"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(RadsynthInputError) as e:
        TumourGrowth(**kwargs)
    assert e.value.field == field and "accepted" in str(e.value)


def test_bad_times_and_ranges_are_refused():
    g = TumourGrowth("exponential", 5.0, 0.01)
    with pytest.raises(RadsynthInputError, match="t_days"):
        g.volume_ml(-1.0)
    with pytest.raises(RadsynthInputError) as e:
        RandomTumourGrowth(initial_volume_ml=(5, 20), max_volume_ml=(10, 100))
    assert e.value.field == "max_volume_ml"

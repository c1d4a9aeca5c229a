"""The lab's sriov stand-in reads an SR-IOV NAD's VF rate limits as SR-IOV CNI passes them to the PF
(`max_tx_rate`/`min_tx_rate`, whole Mbps, 0 for none) and refuses what a driver refuses, with a CNI error
that names the field; the VF's switch port gets a shaper whose bucket suits the rate."""

from __future__ import annotations

import pytest

from bondlab.cni import sriov
from bondlab.world import switch
from bondlab.world.vf import LINK_MBPS


def test_rates_are_read_as_whole_mbps():
    assert sriov._settings({"max_tx_rate": 50, "min_tx_rate": 10}) == {"max_tx_rate": 50, "min_tx_rate": 10}
    assert sriov._settings({"max_tx_rate": 0}) == {"max_tx_rate": 0}  # 0: no limit (DEL's undo too)
    assert sriov._settings({"spoofchk": "off"}) == {"spoofchk": False}  # no rate: none asked for


@pytest.mark.parametrize("value", ["50", 50.5, -1, True, [50]])
def test_a_rate_that_is_not_whole_mbps_is_a_cni_error_naming_the_field(value):
    with pytest.raises(sriov.Fail) as error:
        sriov._settings({"max_tx_rate": value})
    assert error.value.code == 7 and '"max_tx_rate" must be a whole number of Mbps' in error.value.msg


def test_a_rate_above_the_link_is_refused_with_the_link_speed():
    with pytest.raises(sriov.Fail) as error:
        sriov._settings({"max_tx_rate": LINK_MBPS + 1})
    assert error.value.msg == f'"max_tx_rate" {LINK_MBPS + 1} Mbps is above the VF\'s link speed (10000 Mbps)'


def test_a_minimum_above_the_maximum_is_refused():
    with pytest.raises(sriov.Fail) as error:
        sriov._settings({"max_tx_rate": 50, "min_tx_rate": 60})
    assert error.value.msg == '"min_tx_rate" 60 Mbps is above "max_tx_rate" 50 Mbps'
    assert sriov._settings({"max_tx_rate": 0, "min_tx_rate": 60}) == {"max_tx_rate": 0, "min_tx_rate": 60}


def test_the_shaper_bucket_is_10_ms_of_the_rate_and_at_least_16_frames():
    assert switch.tx_rate_burst(1000) == 1_250_000
    assert switch.tx_rate_burst(1) == 16 * 1514
    assert switch.shaper_name("n12p2v31") == "n12p2v31r"  # within IFNAMSIZ

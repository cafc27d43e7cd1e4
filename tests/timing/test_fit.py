"""The per-byte/per-block split fit for the boot pages."""
from fractions import Fraction

from calibration.fit import allowed_byte_shares


def test_split_that_fits_both_boot_pages():
    # 500 bytes in 50 blocks and 1300 bytes in 60 blocks, 17 per unit, 218 fixed
    lo, hi = allowed_byte_shares({0x7: (500, 50), 0x8: (1300, 60)}, Fraction(17), 218)
    for a in (lo, hi, (lo + hi) / 2):
        for (nbytes, blocks), target in (((500, 50), 1550), ((1300, 60), 4100)):
            cost = 218 + a * nbytes + (17 - a) * blocks
            assert Fraction(3, 4) * target <= cost <= Fraction(5, 4) * target
    assert 1 < lo < hi < 2


def test_no_split_when_the_pages_disagree():
    assert allowed_byte_shares({0x7: (4000, 50), 0x8: (100, 60)}, Fraction(17), 218) is None

"""Loading timing profiles: built-in names, user files, clear errors."""
import pytest

from vm.timing import COST_NAMES, Profile, ProfileError, load_profile


@pytest.mark.parametrize("name", ["tcg", "kvm", "off"])
def test_built_in_profiles_load(name):
    p = load_profile(name)
    assert p.name == name and isinstance(p, Profile)


def test_off_is_one_cycle_per_instruction_and_nothing_else():
    p = load_profile("off")
    # each item of a rep is an instruction (issue 20): string_iter is its cycle
    assert all(p.insn_cost(k) == 1 for k in ("insn", "mul", "div", "branch", "io", "rdtsc")) and p.string_iter == 1
    others = [n for n in COST_NAMES if n not in ("insn", "mul", "div", "branch", "io", "rdtsc", "string_iter",
                                                  "first_touch_shift", "exec_cost_divisor")]
    assert all(getattr(p, n) == 0 for n in others)


def test_kvm_has_no_executed_code_penalty():
    p = load_profile("kvm")
    assert p.code_page_write == p.exec_byte_write == p.exec_block_write == p.smc_invalidate == 0


def test_user_file(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text("insn = 3\nmem_write = 5\n")
    p = load_profile(str(f))
    assert (p.name, p.insn, p.mem_write, p.mem_read) == ("mine", 3, 5, 0)


@pytest.mark.parametrize("text, message", [
    ("insn = ", "cannot read timing profile"),
    ("bogus = 1\n", "unknown timing cost 'bogus'"),
    ("insn = -1\n", "non-negative integer"),
    ("insn = 1.5\n", "non-negative integer"),
    ("insn = true\n", "non-negative integer"),
    ("first_touch_shift = 40\n", "at most 31"),
])
def test_malformed_files_give_a_clear_error(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(str(f))


def test_missing_file_and_binary_file(tmp_path):
    with pytest.raises(ProfileError, match="not found"):
        load_profile(str(tmp_path / "nope.toml"))
    f = tmp_path / "bin.toml"
    f.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProfileError, match="timing profile"):
        load_profile(str(f))

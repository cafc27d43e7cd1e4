"""Calibration of the VM's timing profiles (vm/timing/*.toml) against the
seed's figures: it builds the kernel's experiment programs (the compiler)
and boots them on the VM, so it lives outside both.

    table.py   the calibration table (python bench/bench_timing.py prints it)
    fit.py     re-fit the tcg code-page write split (python -m calibration.fit)
"""

"""`kpyc report`: the seed's experiments (../shared/seed/hmm.md) run on the
VM under `tcg` and `kvm` and on qemu-system-i386, beside the seed's own
figures (vm/timing/seed_figures.toml), written as report.md and a
self-contained report.html with plots.

    experiments.py  build once, run every experiment on every target (jobs)
    figures.py      what each run printed -> the table rows and plot series
    plots.py        the PNG plots (matplotlib, Agg)
    story.py        the words: what each experiment shows, from the numbers
    write.py        report.md and report.html
    command.py      the command: options, progress display, Ctrl-C
"""

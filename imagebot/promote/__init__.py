"""Staged promotion (`promotions:`): what staging runs, tag and digest exactly, proposed to production
once its gates hold (soak, checks, windows).

    pairing.py  staging and production references paired by workload identity or a path map
    gates.py    soak / checks / windows / rollback as pure functions of facts and the time
    source.py   the candidate-source seam: pairs + facts + now -> Resolutions (and when to look again)
    history.py  when a value reached staging, from Git history (deepening a shallow clone as needed)
    step.py     the cycle step: check out both environments, decide, plan, render, deliver
"""

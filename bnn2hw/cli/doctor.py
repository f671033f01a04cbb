"""``bnn2hw doctor``: prints what ``bnn2hw.pipeline.doctor.run_doctor`` found, one block per tool."""

from __future__ import annotations

from bnn2hw.pipeline.doctor import run_doctor


def add_doctor_parser(sub) -> None:
    sub.add_parser("doctor", help="which tools and data sets this machine has, what each enables, how to get "
                                  "the missing ones")


def doctor_command(args) -> None:
    findings = run_doctor()
    for f in findings:
        print(f"[{'ok' if f.found else '--'}] {f.name}: {f.version}")
        print(f"     enables: {f.enables}")
        if not f.found and f.fix:
            print(f"     get it:  {f.fix}")
    missing = [f.name for f in findings if not f.found]
    print(f"\n{len(findings) - len(missing)} of {len(findings)} found" +
          (f"; missing: {', '.join(missing)} (the commands they enable say so when run)" if missing else ""))

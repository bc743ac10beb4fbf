"""Shared page furniture: the "as of" line, unit-carrying column formats, empty-state notes."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboards import data

# Column formats. Every number shown carries its unit in the header.
USD_GPU_H = "$/GPU-h"
USD_TFLOP_H = "$/effective TFLOP-h"


def money(label: str, help: str | None = None, digits: int = 3) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format=f"$%.{digits}f", help=help)


def number(label: str, fmt: str = "%.1f", help: str | None = None) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format=fmt, help=help)


def link(label: str = "source", text: str = "open ↗") -> st.column_config.LinkColumn:
    return st.column_config.LinkColumn(label, display_text=text, help="Where this price was observed")


OFFER_COLUMNS = {
    "snapshot_date": st.column_config.DateColumn("snapshot date", format="YYYY-MM-DD"),
    "source": "source",
    "provider": "provider",
    "region": "region",
    "instance_type": "instance type",
    "pricing": "pricing",
    "gpu": "GPU",
    "gpu_name_raw": "GPU name (as listed)",
    "gpu_count": number("GPUs", "%.2g"),
    "gpu_memory_gb": number("GPU memory (GB/GPU)", "%.0f"),
    "vcpus": number("vCPUs", "%.0f"),
    "ram_gb": number("RAM (GB)", "%.0f"),
    "price_usd_per_hour": money("instance ($/h)"),
    "price_usd_per_gpu_hour": money(f"price ({USD_GPU_H})"),
    "spot_is_estimate": st.column_config.CheckboxColumn("spot estimated", help="Spot price derived, not quoted"),
    "precision": "precision",
    "effective_tflops": number("effective TFLOPS/GPU", "%.0f", "dense peak x MFU x scaling efficiency"),
    "usd_per_effective_tflop_hour": money(USD_TFLOP_H, digits=4),
    "interconnect": "interconnect",
    "vendor": "vendor",
    "form_factor": "form factor",
    "source_url": link(),
    "observed_at": st.column_config.DatetimeColumn("observed at (UTC)", format="YYYY-MM-DD HH:mm"),
    "identity_basis": st.column_config.TextColumn(
        "GPU known from", help="instance table: the provider's documented instance type; row evidence: the "
        "row's own name, memory or vendor id; name default: the name said too little (bare 'H100' read as "
        "SXM): check before you rely on the form factor"),
    "identity_note": st.column_config.TextColumn("how we know", width="large"),
    "underlying_provider": st.column_config.TextColumn("cloud behind (resellers)"),
}


def md(text: str) -> str:
    """Escape `$` so Streamlit's markdown does not read "$/GPU-h ... $/h" as LaTeX."""
    return str(text).replace("\\$", "$").replace("$", "\\$")


def caption(text: str) -> None:
    st.caption(md(text))


def header(title: str, blurb: str) -> None:
    st.title(title)
    st.caption(md(blurb))


def as_of(lo: date | None = None, hi: date | None = None, what: str = "Prices") -> None:
    """The one line every page shows: which snapshot its prices come from (never "today")."""
    if lo is None and hi is None:
        lo, hi = data.latest_window()
    text = data.as_of_text(lo, hi, what)
    age = data.days_old(hi)
    if age is not None and age > 2:
        text += f" That is {age} days before today: these are recorded prices, not live ones."
    st.info(md(text), icon=":material/event:")


def empty(what: str, fix: str) -> None:
    """An empty result says why and what to change."""
    st.warning(md(f"{what} {fix}"), icon=":material/search_off:")


def usd(x: float | None) -> str:
    """$ with a readable magnitude: $812, $12.4k, $3.21M, $1.05B."""
    if x is None:
        return "n/a"
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"${x / scale:,.3g}{unit}" if abs(x) / scale < 1000 else f"${x / scale:,.0f}{unit}"
    return f"${x:,.2f}"


def count(x: float | None, digits: int = 3) -> str:
    """1.4e12 -> '1.4T' (parameters, tokens)."""
    if x is None:
        return "n/a"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{unit}"
    return f"{x:.{digits}g}"


def sci(x: float) -> str:
    """5.88e+24 -> '5.88 × 10²⁴'."""
    mantissa, exponent = f"{x:.3e}".split("e")
    sup = str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"{float(mantissa):.3g} × 10{sup}"


def estimate_error(exc: Exception) -> None:
    """A cost-model EstimateError: what is wrong and what would work, never a traceback."""
    st.error(md(f"Cannot estimate this: {exc}"), icon=":material/block:")

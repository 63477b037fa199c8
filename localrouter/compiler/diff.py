"""What changes between two routing tables, per client: for reviewing config pull requests.

For every client: added or removed, its strategy, enabled, limits, its strategy's aliases, and
per route the candidates added, removed and re-ordered, route conditions and order keys changed.
Strategies added or removed, and the changes of strategies no client uses. Providers added,
removed or re-pointed. MCP: per client its strategy's servers, allow, deny and rules; servers
added, removed or changed (a changed one is restarted on reload); skills added, removed, changed.
Key material is never shown: a rotated key is reported as "key rotated".
"""

from __future__ import annotations

from dataclasses import dataclass

from localrouter.compiler.dump import mcp_policy
from localrouter.compiler.table import Client, LimitPolicy, Route, RoutingTable, Strategy


@dataclass(frozen=True)
class Change:
    subject: str  # "client cursor", "provider openai", "strategy coding"
    what: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.what}"


def _limits(ls: tuple[LimitPolicy, ...]) -> list[str]:
    return sorted(f"{lim.amount:g} {lim.metric}/{lim.per}" for lim in ls)


def _routes(s: Strategy) -> dict[str, Route]:
    return {"default": s.default, **{r.name: r for r in s.routes}}


def _route_changes(subject: str, old: Strategy, new: Strategy) -> list[Change]:
    out = []
    a, b = _routes(old), _routes(new)
    for name in a.keys() - b.keys():
        out.append(Change(subject, f"route '{name}' removed"))
    for name in b.keys() - a.keys():
        ids = ", ".join(m.id for m in b[name].candidates) or "no candidates"
        out.append(Change(subject, f"route '{name}' added ({ids})"))
    order = [n for n in b if n in a]
    if [n for n in a if n in b] != order:
        out.append(Change(subject, f"routes re-ordered: {', '.join(order)}"))
    for name in order:
        ra, rb = a[name], b[name]
        ia, ib = [m.id for m in ra.candidates], [m.id for m in rb.candidates]
        added = [m for m in ib if m not in ia]
        removed = [m for m in ia if m not in ib]
        where = f"route '{name}'"
        if added:
            out.append(Change(subject, f"{where}: + {', '.join(added)}"))
        if removed:
            out.append(Change(subject, f"{where}: - {', '.join(removed)}"))
        kept_a = [m for m in ia if m in ib]
        kept_b = [m for m in ib if m in ia]
        if kept_a != kept_b:
            out.append(
                Change(subject, f"{where}: re-ordered {' > '.join(kept_a)} → {' > '.join(kept_b)}")
            )
        wa = ra.when.source if ra.when else None
        wb = rb.when.source if rb.when else None
        if wa != wb:
            out.append(Change(subject, f"{where}: when {wa!r} → {wb!r}"))
        if ra.order != rb.order:
            out.append(Change(subject, f"{where}: order {list(ra.order)} → {list(rb.order)}"))
    fa = old.filter.source if old.filter else None
    fb = new.filter.source if new.filter else None
    if fa != fb:
        out.append(Change(subject, f"filter {fa!r} → {fb!r}"))
    if _limits(old.limits) != _limits(new.limits):
        out.append(
            Change(subject, f"strategy limits {_limits(old.limits)} → {_limits(new.limits)}")
        )
    if old.fallback != new.fallback:
        out.append(Change(subject, f"fallback {old.fallback} → {new.fallback}"))
    aa = [f"{a.pattern} → {a.target}" for a in old.aliases]
    ab = [f"{a.pattern} → {a.target}" for a in new.aliases]
    if aa != ab:
        out.append(Change(subject, f"aliases [{', '.join(aa)}] → [{', '.join(ab)}]"))
    ma, mb = mcp_policy(old.mcp), mcp_policy(new.mcp)
    for key in ("servers", "allow", "deny"):
        if ma[key] != mb[key]:
            out.append(Change(subject, f"mcp {key} {ma[key]} → {mb[key]}"))
    if ma["rules"] != mb["rules"]:
        show = [" when ".join(r) for r in mb["rules"]]
        out.append(Change(subject, f"mcp rules changed: [{'; '.join(show)}]"))
    return out


def _mcp_changes(old: RoutingTable, new: RoutingTable) -> list[Change]:
    out = []
    for n in sorted(old.mcp_servers.keys() | new.mcp_servers.keys()):
        a, b = old.mcp_servers.get(n), new.mcp_servers.get(n)
        if a is None or b is None:
            out.append(Change(f"mcp server {n}", "added" if a is None else "removed"))
        elif a.fingerprint != b.fingerprint:
            out.append(Change(f"mcp server {n}", "changed (restarted on reload)"))
    for n in sorted(old.skills.keys() | new.skills.keys()):
        sa, sb = old.skills.get(n), new.skills.get(n)
        if sa is None or sb is None:
            out.append(Change(f"skill {n}", "added" if sa is None else "removed"))
        elif sa != sb:
            out.append(Change(f"skill {n}", "changed"))
    return out


def _client_changes(name: str, old: RoutingTable, new: RoutingTable) -> list[Change]:
    subject = f"client {name}"
    a: Client | None = old.clients.get(name)
    b: Client | None = new.clients.get(name)
    if a is None and b is not None:
        return [Change(subject, f"added (strategy {b.strategy})")]
    if b is None:
        return [Change(subject, "removed")]
    assert a is not None
    out = []
    if a.strategy != b.strategy:
        out.append(Change(subject, f"strategy {a.strategy} → {b.strategy}"))
    if a.enabled != b.enabled:
        out.append(Change(subject, "enabled" if b.enabled else "disabled"))
    if a.key_prefix != b.key_prefix or a.key_hash != b.key_hash:
        out.append(Change(subject, "key rotated"))
    if _limits(a.limits) != _limits(b.limits):
        out.append(Change(subject, f"limits {_limits(a.limits)} → {_limits(b.limits)}"))
    if a.tags != b.tags:
        out.append(Change(subject, f"tags {list(a.tags)} → {list(b.tags)}"))
    out += _route_changes(subject, old.strategy_of(a), new.strategy_of(b))
    return out


def diff_tables(old: RoutingTable, new: RoutingTable) -> list[Change]:
    """Every routing-relevant difference; empty when the tables route identically."""
    out: list[Change] = []
    for p in sorted(old.providers.keys() | new.providers.keys()):
        a, b = old.providers.get(p), new.providers.get(p)
        if a is None:
            out.append(Change(f"provider {p}", "added"))
        elif b is None:
            out.append(Change(f"provider {p}", "removed"))
        else:
            for attr in ("type", "base_url", "kind", "discover"):
                if getattr(a, attr) != getattr(b, attr):
                    out.append(
                        Change(f"provider {p}", f"{attr} {getattr(a, attr)} → {getattr(b, attr)}")
                    )
            if a.api_key != b.api_key:
                out.append(Change(f"provider {p}", "api_key reference changed"))
            if _limits(a.limits) != _limits(b.limits):
                out.append(
                    Change(f"provider {p}", f"limits {_limits(a.limits)} → {_limits(b.limits)}")
                )
    used = {c.strategy for t in (old, new) for c in t.clients.values()}
    for s in sorted(old.strategies.keys() | new.strategies.keys()):
        sa, sb = old.strategies.get(s), new.strategies.get(s)
        either = sa or sb
        if either is None or either.implicit:
            continue
        if sa is None or sb is None:
            out.append(Change(f"strategy {s}", "added" if sa is None else "removed"))
        elif s not in used:  # a strategy's changes show per client; unused ones show here
            out += _route_changes(f"strategy {s}", sa, sb)
    out += _mcp_changes(old, new)
    for c in sorted(old.clients.keys() | new.clients.keys()):
        out += _client_changes(c, old, new)
    return out

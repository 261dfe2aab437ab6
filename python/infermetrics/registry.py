"""Metric names and registries, shaped like prometheus_client.registry.

The C library keeps one registry per process: every family, whoever made it, is served by every
server. So a name is taken once per process, whatever ``registry=`` a metric was given; a
CollectorRegistry here only scopes generate_latest(registry) and get_sample_value() to its own
metrics (REGISTRY, the default, means everything in the process).
"""
import re
import threading


class DuplicateTimeseries(ValueError):
    """Raised when a metric would produce a series name another live metric produces."""

    def __init__(self, duplicates, owner=None):
        msg = "Duplicated timeseries in CollectorRegistry: %s" % (set(duplicates),)
        if owner is not None:
            msg += (" (taken by %r; infermetrics has one registry per process: close() that metric or "
                    "REGISTRY.unregister() it first)" % (owner,))
        super().__init__(msg)
        self.duplicates = set(duplicates)


_names_lock = threading.Lock()
_names = {}  # series name -> the live metric that produces it


def reserve(metric, names):
    """Takes `names` for `metric`, or raises DuplicateTimeseries (all or nothing)."""
    with _names_lock:
        taken = [n for n in names if n in _names]
        if taken:
            raise DuplicateTimeseries(taken, _names[taken[0]])
        for n in names:
            _names[n] = metric


def release(metric):
    with _names_lock:
        for n in [n for n, m in _names.items() if m is metric]:
            del _names[n]


class CollectorRegistry:
    """A set of infermetrics metrics, for generate_latest(registry) and get_sample_value().

    Unlike prometheus_client, it cannot take custom collectors (objects with collect()): the values
    live in the C library, which renders them. unregister(metric) closes the metric (its series
    leave the output for good)."""

    def __init__(self, auto_describe=False, target_info=None):
        if target_info:
            raise ValueError("infermetrics: target_info is not supported; use const_labels= on the metrics")
        self._lock = threading.Lock()
        self._metrics = []
        self._everything = False

    def register(self, metric):
        from .metrics import MetricWrapperBase
        if not isinstance(metric, MetricWrapperBase):
            raise TypeError("infermetrics registries hold infermetrics metrics only, not %r "
                            "(custom collectors are not supported)" % (metric,))
        if metric._closed:
            raise ValueError("%r is closed" % (metric,))
        with self._lock:
            if metric not in self._metrics:
                self._metrics.append(metric)

    def unregister(self, metric):
        """Closes `metric`: its series are deleted and its names can be taken again."""
        metric.close()

    def _forget(self, metric):
        with self._lock:
            if metric in self._metrics:
                self._metrics.remove(metric)

    def _family_names(self):
        with self._lock:
            return {n for m in self._metrics for n in m._family_names()}

    def text(self):
        """This registry's families as Prometheus text 0.0.4."""
        from .exposition import _registry_text
        return _registry_text(self)

    def get_sample_value(self, name, labels=None):
        """The value of the sample `name` with exactly these labels, or None (as prometheus_client).
        `le` compares as a number, so {"le": "1.0"} finds le="1"; an empty label value is no label."""
        want = {k: v for k, v in (labels or {}).items() if v != ""}
        for family in parse(self.text()):
            for sname, slabels, value in family["samples"]:
                if sname == name and _same_labels(slabels, want):
                    return value
        return None

    def __repr__(self):
        return "<infermetrics.CollectorRegistry%s>" % (" (process-wide)" if self._everything else "")


def _same_labels(got, want):
    if set(got) != set(want):
        return False
    for k, v in want.items():
        if k == "le":
            try:
                if float(got[k]) != float(v):
                    return False
                continue
            except ValueError:
                pass
        if got[k] != v:
            return False
    return True


REGISTRY = CollectorRegistry()
REGISTRY._everything = True

# --- Prometheus text 0.0.4 ----------------------------------------------------------------------
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(v):
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """The families of a text exposition: [{"name", "help", "type", "samples": [(name, {labels},
    value)]}], in order. Samples before any # HELP/# TYPE get a family of their own name."""
    families = []
    current = None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                if current is None or current["name"] != parts[2]:
                    current = {"name": parts[2], "help": None, "type": None, "samples": []}
                    families.append(current)
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    current["help"] = rest.replace("\\n", "\n").replace("\\\\", "\\")
                else:
                    current["type"] = rest
            continue
        brace = line.find("{")
        labels = {}
        if brace >= 0:
            name = line[:brace]
            end = line.rfind("}")
            body, rest = line[brace + 1:end], line[end + 1:]
            pos = 0
            while pos < len(body):
                m = _LABEL.match(body, pos)
                if not m:
                    raise ValueError("cannot parse labels in %r" % line)
                labels[m.group(1)] = _unescape(m.group(2))
                pos = m.end()
        else:
            name, _, rest = line.partition(" ")
        value = float(rest.split()[0])
        if current is None or not (name == current["name"] or name.startswith(current["name"] + "_")):
            current = {"name": name, "help": None, "type": None, "samples": []}
            families.append(current)
        current["samples"].append((name, labels, value))
    return families


def filter_families(text, names):
    """The blocks of `text` (a # HELP line up to the next) whose family name is in `names`."""
    out = []
    keep = False
    for line in text.splitlines(True):
        if line.startswith("# HELP "):
            keep = line.split(None, 3)[2] in names
        if keep:
            out.append(line)
    return "".join(out)

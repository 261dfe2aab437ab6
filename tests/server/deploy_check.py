#!/usr/bin/env python3
"""Checks of deploy/ (issue 12): the Grafana dashboard, the alert rules, the Kubernetes manifests
and the scrape configuration.

  deploy_check.py static ROOT OUT_SCRAPE_YML
      Without a server: the dashboard's structure (datasource variable, variables, ids, grid,
      every query filtered by $instance / $gpu_uuid, the panels the issue asks for), every metric
      name of every dashboard query and alert rule documented in docs/metrics.md, the Kubernetes
      manifests (apiVersion / kind, the ServiceMonitor's and PodMonitor's port names against the
      Service's), and scrape.yml's jobs (the TLS job's https / ca_file / basic_auth, the
      kubernetes_sd job keeping the port named like the manifests'). Writes to OUT_SCRAPE_YML a
      copy of scrape.yml without its kubernetes_sd jobs, for a promtool built without that
      discovery (Debian's).

  deploy_check.py promql ROOT API_URL
      Against a running Prometheus (deploy_promql.sh) scraping serve_fixture (fake NVML, a fake
      cgroup, a histogram with traffic) and serve_triton: evaluates the dashboard's variable
      queries, then every PromQL expression of the dashboard (variables substituted as Grafana
      does) and of alerts.yml through /api/v1/query, and fails on an error, or on an empty / NaN
      answer not listed in ALLOWED_EMPTY below; checks the p50 / p99 of the fixture's histogram
      against the values computed by hand, the rule groups' health in /api/v1/rules, and which
      alerts are active in /api/v1/alerts for the fixture's known state.

Exit status 0 = every check passed; 1 = a failure (each printed as "FAIL ...").
"""
import json
import math
import os
import re
import sys
import urllib.parse
import urllib.request

import yaml

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL " + msg, flush=True)


def ok(msg):
    print("ok   " + msg, flush=True)


def load(root):
    with open(os.path.join(root, "deploy/grafana/infermetrics.json")) as f:
        dash = json.load(f)
    with open(os.path.join(root, "deploy/prometheus/alerts.yml")) as f:
        rules = yaml.safe_load(f)
    return dash, rules


def dashboard_targets(dash):
    """(panel, target) for every query of every panel, rows' nested panels included."""
    out = []
    for p in dash["panels"]:
        for q in [p] + p.get("panels", []):
            for t in q.get("targets", []):
                out.append((q, t))
    return out


def alert_rules(rules):
    return [(g["name"], r) for g in rules["groups"] for r in g["rules"]]


# ---------------------------------------------------------------------------- metric names
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
NAME = re.compile(r"(?<![A-Za-z0-9_:$}])((?:nv|process|node)_[A-Za-z0-9_:]+|up)\b")


def metric_names(expr):
    """The metric names an expression selects (ours all start nv_, process_, node_; and up)."""
    return set(NAME.findall(STRING.sub('""', expr)))


def documented_names(root):
    with open(os.path.join(root, "docs/metrics.md")) as f:
        text = f.read()
    # code blocks and examples are documentation too: every prefixed word counts; brace lists
    # (nv_inference_{request,queue}_duration_us) are expanded
    names = set(re.findall(r"\b((?:nv|process|node)_[A-Za-z0-9_]+)", text))
    for m in re.finditer(r"\b((?:nv|process|node)_[A-Za-z0-9_]*)\{([A-Za-z0-9_,]+)\}([A-Za-z0-9_]*)", text):
        names.update(m.group(1) + alt + m.group(3) for alt in m.group(2).split(","))
    return names


# ---------------------------------------------------------------------------- static checks
def check_dashboard(dash, documented):
    if dash.get("schemaVersion", 0) < 36:
        fail(f"dashboard schemaVersion {dash.get('schemaVersion')} < 36")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables.get("datasource")
    if not ds or ds["type"] != "datasource" or ds["query"] != "prometheus":
        fail("dashboard: no `datasource` variable of type datasource, query prometheus")
    for name in ("instance", "gpu_uuid", "histogram"):
        v = variables.get(name)
        if not v or v["type"] != "query":
            fail(f"dashboard: no query variable `{name}`")
            continue
        if v["datasource"] != {"type": "prometheus", "uid": "${datasource}"}:
            fail(f"dashboard: variable {name} does not use ${{datasource}}")
        if not v["definition"].startswith("label_values("):
            fail(f"dashboard: variable {name} is not a label_values() query")
    if variables.get("histogram", {}).get("regex") != "/^(.+)_bucket$/":
        fail("dashboard: the histogram variable must trim _bucket with its regex")
    ids = [q["id"] for p in dash["panels"] for q in [p] + p.get("panels", [])]
    if len(ids) != len(set(ids)):
        fail("dashboard: duplicate panel ids")
    boxes = []
    for p in dash["panels"]:
        g = p["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            fail(f"dashboard: panel {p['title']!r} outside the 24-column grid")
        for (t, b) in boxes:
            if g["x"] < b["x"] + b["w"] and b["x"] < g["x"] + g["w"] and g["y"] < b["y"] + b["h"] and b["y"] < g["y"] + g["h"]:
                fail(f"dashboard: panels {t!r} and {p['title']!r} overlap")
        boxes.append((p["title"], g))
    builtins = {"__rate_interval", "__interval", "__range"}
    n = 0
    used = set()
    for p, t in dashboard_targets(dash):
        n += 1
        where = f"panel {p['title']!r} {t['refId']}"
        expr = t["expr"]
        if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"} or t.get("datasource") != p["datasource"]:
            fail(f"{where}: datasource is not ${{datasource}}")
        for var in re.findall(r"\$\{?(\w+)", expr):
            if var not in variables and var not in builtins:
                fail(f"{where}: unknown variable ${var}")
        if len(re.findall(r"(?<!\$)\{", expr)) != expr.count('instance=~"$instance"'):
            fail(f"{where}: a selector without instance=~\"$instance\": {expr}")
        names = metric_names(expr)
        used |= names
        if any(x.startswith(("nv_gpu_", "nv_mig_", "nv_energy")) for x in names) and expr.count('gpu_uuid=~"$gpu_uuid"') < len(re.findall(r"(?<!\$)\{", expr)):
            fail(f"{where}: a GPU selector without gpu_uuid=~\"$gpu_uuid\": {expr}")
        for x in names:
            if x not in documented:
                fail(f"{where}: {x} is not a series of docs/metrics.md")
        if "$histogram" in expr or "${histogram}" in expr:
            if p.get("repeat") != "histogram":
                fail(f"{where}: uses $histogram but does not repeat over it")
    exprs = " ".join(t["expr"] for _, t in dashboard_targets(dash))
    for q in ("0.5", "0.99"):
        if not re.search(r"histogram_quantile\(%s, sum by \(le\) \(rate\(\$\{histogram\}_bucket" % re.escape(q), exprs):
            fail(f"dashboard: no p{q[2:] or '50'} panel over ${{histogram}}_bucket")
    wanted = {"nv_gpu_utilization", "nv_gpu_memory_used_bytes", "nv_gpu_memory_total_bytes", "nv_gpu_power_usage",
              "nv_gpu_power_limit", "nv_gpu_temperature", "nv_gpu_clock_event_active", "nv_gpu_ecc_errors_total",
              "nv_gpu_xid_errors_total", "nv_cpu_utilization", "nv_cpu_memory_used_bytes",
              "nv_container_cpu_usage_seconds_total", "nv_container_cpu_cfs_throttled_periods_total",
              "nv_container_cpu_cfs_periods_total", "nv_container_memory_working_set_bytes",
              "nv_container_oom_kills_total", "process_cpu_seconds_total", "process_resident_memory_bytes",
              "process_open_fds"}
    for x in sorted(wanted - used):
        fail(f"dashboard: no panel shows {x}")
    if not FAILS:
        ok(f"dashboard: {n} queries in {len(ids)} panels and rows, variables {sorted(variables)}, "
           f"{len(used)} metric names, all documented")


def check_rules(rules, documented):
    names = []
    for group, r in alert_rules(rules):
        a = r.get("alert")
        names.append(a)
        if not a:
            fail(f"group {group}: a rule without `alert`")
            continue
        if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
            fail(f"alert {a}: no severity label critical / warning / info")
        for k in ("summary", "description"):
            if not r.get("annotations", {}).get(k):
                fail(f"alert {a}: no {k} annotation")
        for x in metric_names(r["expr"]):
            if x != "up" and x not in documented:
                fail(f"alert {a}: {x} is not a series of docs/metrics.md")
    ok(f"alerts.yml: {len(names)} alerts with severity, summary and description: {', '.join(names)}")


def check_kubernetes(root):
    kdir = os.path.join(root, "deploy/kubernetes")
    docs = {}
    for fn in sorted(os.listdir(kdir)):
        if fn.endswith((".yaml", ".yml")):
            with open(os.path.join(kdir, fn)) as f:
                for d in yaml.safe_load_all(f):
                    if d is None:
                        continue
                    if "apiVersion" not in d or "kind" not in d or "name" not in d.get("metadata", {}):
                        fail(f"{fn}: a document without apiVersion, kind or metadata.name")
                        continue
                    docs.setdefault(d["kind"], []).append((fn, d))
    want_api = {"Service": "v1", "ServiceMonitor": "monitoring.coreos.com/v1", "PodMonitor": "monitoring.coreos.com/v1"}
    for kind, api in want_api.items():
        if not docs.get(kind):
            fail(f"deploy/kubernetes: no {kind}")
        for fn, d in docs.get(kind, []):
            if d["apiVersion"] != api:
                fail(f"{fn}: {kind} with apiVersion {d['apiVersion']}, expected {api}")
    if not docs.get("Service"):
        return
    _, svc = docs["Service"][0]
    ports = {p.get("name"): p for p in svc["spec"]["ports"]}
    if "metrics" not in ports:
        fail("service: no port named metrics")
    svc_labels = svc["metadata"].get("labels", {})
    for fn, sm in docs.get("ServiceMonitor", []):
        sel = sm["spec"]["selector"]["matchLabels"]
        if any(svc_labels.get(k) != v for k, v in sel.items()):
            fail(f"{fn}: selector {sel} does not match the Service's labels {svc_labels}")
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in ports:
                fail(f"{fn}: endpoint port {ep.get('port')!r} is not a port name of the Service ({sorted(ports)})")
            if ep.get("path") != "/metrics" or not re.fullmatch(r"\d+[smh]", str(ep.get("interval", ""))):
                fail(f"{fn}: endpoint without path /metrics and an interval")
            if ep.get("scheme") == "https":
                tls, auth = ep.get("tlsConfig", {}), ep.get("basicAuth", {})
                if not tls.get("ca", {}).get("secret", {}).get("key"):
                    fail(f"{fn}: https endpoint without tlsConfig.ca.secret")
                if not (auth.get("username", {}).get("key") and auth.get("password", {}).get("key")):
                    fail(f"{fn}: https endpoint without basicAuth username / password secret keys")
    for fn, pm in docs.get("PodMonitor", []):
        sel = pm["spec"]["selector"]["matchLabels"]
        if sel != svc["spec"]["selector"]:
            fail(f"{fn}: selects pods {sel}, the Service {svc['spec']['selector']}")
        for ep in pm["spec"]["podMetricsEndpoints"]:
            if ep.get("port") != ports.get("metrics", {}).get("targetPort"):
                fail(f"{fn}: port {ep.get('port')!r} is not the Service's targetPort (the container port name)")
    if not any(ep.get("scheme") == "https" for _, sm in docs.get("ServiceMonitor", []) for ep in sm["spec"]["endpoints"]):
        fail("deploy/kubernetes: no ServiceMonitor with the TLS / basic-auth variant")
    ok("kubernetes: " + ", ".join(f"{k} x{len(v)}" for k, v in sorted(docs.items())) +
       "; ServiceMonitor ports and selectors match the Service, the PodMonitor its pods and container port")
    return ports["metrics"].get("targetPort")


def check_scrape(root, out, port_name):
    with open(os.path.join(root, "deploy/prometheus/scrape.yml")) as f:
        cfg = yaml.safe_load(f)
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    static = [j for j in jobs.values() if "static_configs" in j and j.get("scheme", "http") == "http"]
    k8s = [j for j in jobs.values() if "kubernetes_sd_configs" in j]
    tls = [j for j in jobs.values() if j.get("scheme") == "https"]
    if not static:
        fail("scrape.yml: no plain static job")
    if not k8s:
        fail("scrape.yml: no kubernetes_sd job")
    for j in k8s:
        roles = {c.get("role") for c in j["kubernetes_sd_configs"]}
        if not roles <= {"pod", "endpoints", "endpointslice", "service", "node", "ingress"}:
            fail(f"scrape.yml {j['job_name']}: kubernetes_sd role {roles}")
        keep = [r for r in j.get("relabel_configs", []) if r.get("action") == "keep"]
        if not any(r.get("regex") == port_name and any("port_name" in s for s in r["source_labels"]) for r in keep):
            fail(f"scrape.yml {j['job_name']}: does not keep the container port named {port_name!r}")
        for r in j.get("relabel_configs", []):
            re.compile(r.get("regex", "(.*)"))
            for s in r.get("source_labels", []):
                if s.startswith("__meta_") and not s.startswith("__meta_kubernetes_pod_") and s != "__meta_kubernetes_namespace":
                    fail(f"scrape.yml {j['job_name']}: {s} is not a label of role pod")
    for j in tls:
        if not j.get("tls_config", {}).get("ca_file"):
            fail(f"scrape.yml {j['job_name']}: https without tls_config.ca_file")
        ba = j.get("basic_auth", {})
        if not (ba.get("username") and ba.get("password_file")) or "password" in ba:
            fail(f"scrape.yml {j['job_name']}: basic_auth needs username and password_file (no inline password)")
    if not tls:
        fail("scrape.yml: no https job (the TLS / basic-auth variant)")
    pruned = dict(cfg)
    pruned["scrape_configs"] = [j for j in cfg["scrape_configs"] if "kubernetes_sd_configs" not in j]
    with open(out, "w") as f:
        yaml.safe_dump(pruned, f, sort_keys=False)
    ok(f"scrape.yml: jobs {sorted(jobs)} (static, kubernetes_sd role pod keeping port {port_name!r}, https + basic_auth)")


# ---------------------------------------------------------------------------- live checks
# Expressions allowed to return nothing (or NaN) on the fixtures, and why. Each names a base
# expression that MUST return data instead (so a misspelt series is still caught), or None where
# the series cannot exist in this environment (its name is still checked against docs/metrics.md).
ALLOWED_EMPTY = {
    # NVML's PIDs cannot be matched to this process inside a PID namespace (a container without
    # --pid=host), so the library serves no value there rather than a wrong one
    ("GPU memory used / total", "C"): ("nv_gpu_process_memory_used_bytes", None),
    # the healthy fixture is up: the condition is empty, its series is not
    ("alert", "InfermetricsTargetDown"): ('up{job=~".*infermetrics.*"}', None),
}
ALLOWED_EMPTY_WHERE_PID_NAMESPACE = {("GPU memory used / total", "C")}

# the fixture's histograms: only these have traffic (the others are static: rate 0, quantile NaN)
HIST_WITH_TRAFFIC = {"fixture_work_seconds", "nv_inference_request_duration_histogram_us"}
# serve_fixture's fixture_work_seconds (see serve_fixture.c): p50 = 0.00778, p99 = 0.475
HIST_EXPECT = {("$histogram: p50 / p99", "A", "fixture_work_seconds"): (0.0077778, 0.0005),
               ("$histogram: p50 / p99", "B", "fixture_work_seconds"): (0.475, 0.02)}

# alerts that must be active (pending or firing) for the fixture's known state (deploy_promql.sh:
# GPU 1 of serve_fixture is 95 % full, power-capped and thermally throttled, has 2 uncorrected
# ECC errors and one XID 79; the fake cgroup is throttled in 40 % of its periods and has a new
# OOM kill), with the GPU they must name; and those that must not be.
EXPECT_ACTIVE = {"GPUMemoryAlmostFull", "GPUThermalThrottling", "GPUPowerThrottling", "GPUXidError",
                 "GPUUncorrectedECCError", "ContainerCPUThrottled", "ContainerOOMKilled"}
EXPECT_INACTIVE = {"InfermetricsTargetDown"}
SUBST = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}


class Prom:
    def __init__(self, api):
        self.api = api.rstrip("/")

    def get(self, path, params):
        url = self.api + path + "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            try:
                return json.loads(body)
            except ValueError:
                return {"status": "error", "error": f"HTTP {e.code}: {body[:200]}"}

    def query(self, expr):
        """(result list, error or None)."""
        r = self.get("/query", {"query": expr})
        if r.get("status") != "success":
            return None, r.get("error", "status " + str(r.get("status")))
        d = r["data"]
        if d["resultType"] == "scalar":
            return [{"metric": {}, "value": d["result"]}], None
        return d["result"], None


def has_data(result):
    return any(not math.isnan(float(s["value"][1])) for s in result)


def prom_regex_value(values):
    """Grafana's interpolation of a multi-value (All) variable in a Prometheus regex matcher:
    the values regex-escaped, joined with |, in parentheses; backslashes doubled for the string."""
    esc = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in values]
    return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"


def substitute(expr, values):
    for k, v in SUBST.items():
        expr = expr.replace(k, v)
    for name, v in values.items():
        expr = expr.replace("${" + name + "}", v).replace("$" + name, v)
    return expr


def variable_values(prom, var, values):
    """Evaluates label_values(SELECTOR, LABEL) as Grafana's Prometheus data source does (the
    series API), then the variable's regex."""
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["definition"])
    if not m:
        fail(f"variable {var['name']}: cannot parse {var['definition']}")
        return []
    selector, label = substitute(m.group(1), values), m.group(2)
    r = prom.get("/series", {"match[]": selector})
    if r.get("status") != "success":
        fail(f"variable {var['name']}: {selector}: {r.get('error')}")
        return []
    got = sorted({s[label] for s in r["data"] if label in s})
    if var.get("regex"):
        rx = re.compile(var["regex"].strip("/"))
        got = sorted({(m2.group(1) if m2.groups() else m2.group(0)) for m2 in map(rx.search, got) if m2})
    return got


def in_pid_namespace():
    try:
        return os.stat("/proc/self/ns/pid").st_ino != 0xEFFFFFFC  # the initial PID namespace's inode
    except OSError:
        return True


def check_promql(root, api, expect):
    dash, rules = load(root)
    prom = Prom(api)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    # 1. the variables, in dashboard order (gpu_uuid and histogram depend on instance)
    values = {}
    chosen = {}
    for name in ("instance", "gpu_uuid", "histogram"):
        got = variable_values(prom, variables[name], values)
        want = set(expect.get(name, []))
        if not got:
            fail(f"variable {name}: no values")
        elif not want <= set(got):
            fail(f"variable {name}: values {got}, expected at least {sorted(want)}")
        else:
            ok(f"variable {name}: {got}")
        chosen[name] = got
        values[name] = prom_regex_value(got) if got else "none"
    # 2. every dashboard query; repeated panels once per value of their variable
    n = 0
    checked = set()
    for p, t in dashboard_targets(dash):
        reps = chosen.get(p["repeat"], []) if p.get("repeat") else [None]
        for rep in reps:
            vals = dict(values)
            if rep is not None:
                vals[p["repeat"]] = rep
            expr = substitute(t["expr"], vals)
            where = f"panel {substitute(p['title'], vals)!r} {t['refId']}"
            n += 1
            res, err = prom.query(expr)
            if err:
                fail(f"{where}: {expr}: {err}")
                continue
            if has_data(res):
                vs = sorted(float(s["value"][1]) for s in res)
                ok(f"{where}: {len(res)} series, e.g. {vs[0]:.6g}")
                want = HIST_EXPECT.get((p["title"], t["refId"], rep))
                if want:
                    checked.add((p["title"], t["refId"], rep))
                if want and not (len(vs) == 1 and abs(vs[0] - want[0]) <= want[1]):
                    fail(f"{where}: {vs}, computed by hand {want[0]} +/- {want[1]}")
                continue
            key = (p["title"], t["refId"])
            if rep is not None and rep not in HIST_WITH_TRAFFIC:
                ok(f"{where}: NaN / empty, as expected for a histogram without traffic")
            elif key in ALLOWED_EMPTY and (key not in ALLOWED_EMPTY_WHERE_PID_NAMESPACE or in_pid_namespace()):
                ok(f"{where}: empty, allowed: {ALLOWED_EMPTY[key][0]}")
            else:
                fail(f"{where}: no data: {expr}")
    for k in sorted(set(HIST_EXPECT) - checked):
        fail(f"panel {k[0]!r} {k[1]} for {k[2]}: never evaluated with data (its value is computed by hand)")
    # 3. every rule's expression
    for group, r in alert_rules(rules):
        n += 1
        res, err = prom.query(r["expr"])
        where = f"alert {r['alert']}"
        if err:
            fail(f"{where}: {r['expr']}: {err}")
        elif has_data(res):
            ok(f"{where}: condition true for {len(res)} series")
        elif ("alert", r["alert"]) in ALLOWED_EMPTY:
            base = ALLOWED_EMPTY[("alert", r["alert"])][0]
            bres, berr = prom.query(base)
            if berr or not has_data(bres):
                fail(f"{where}: empty, and so is its base {base} ({berr})")
            else:
                ok(f"{where}: empty (allowed), its base {base} has {len(bres)} series")
        else:
            fail(f"{where}: no data: {r['expr']}")
    # 4. the rule groups are loaded and healthy
    rr = prom.get("/rules", {})
    groups = {g["name"]: g for g in rr.get("data", {}).get("groups", [])}
    for g in rules["groups"]:
        lg = groups.get(g["name"])
        if not lg:
            fail(f"/api/v1/rules: group {g['name']} not loaded")
            continue
        bad = [(x["name"], x["health"], x.get("lastError")) for x in lg["rules"] if x["health"] != "ok"]
        if bad or len(lg["rules"]) != len(g["rules"]):
            fail(f"/api/v1/rules: group {g['name']}: {len(lg['rules'])} rules, unhealthy: {bad}")
        else:
            ok(f"/api/v1/rules: group {g['name']}: {len(lg['rules'])} rules, health ok")
    # 5. the alerts the fixture's state must (and must not) raise
    alerts = prom.get("/alerts", {}).get("data", {}).get("alerts", [])
    active = {}
    for a in alerts:
        active.setdefault(a["labels"]["alertname"], []).append(a)
    for name in sorted(EXPECT_ACTIVE):
        if name not in active:
            fail(f"alert {name}: not active (pending or firing), expected for the fixture's state")
            continue
        wrong = [a["labels"].get("gpu_uuid") for a in active[name]
                 if "gpu_uuid" in a["labels"] and a["labels"]["gpu_uuid"] != expect["bad_gpu"]]
        if wrong:
            fail(f"alert {name}: raised for the healthy GPU(s) {wrong}")
        else:
            ok(f"alert {name}: " + ", ".join(f"{a['state']} {a['labels'].get('gpu_uuid', a['labels'].get('instance'))}" for a in active[name]))
    for name in sorted(EXPECT_INACTIVE):
        if name in active:
            fail(f"alert {name}: active on a healthy fixture: {active[name]}")
        else:
            ok(f"alert {name}: inactive, as expected")
    print(f"{n} expressions evaluated", flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "static":
        root, out = sys.argv[2], sys.argv[3]
        dash, rules = load(root)
        documented = documented_names(root)
        check_dashboard(dash, documented)
        check_rules(rules, documented)
        port = check_kubernetes(root)
        check_scrape(root, out, port or "metrics")
    elif len(sys.argv) == 4 and sys.argv[1] == "promql":
        expect = json.loads(os.environ.get("DEPLOY_EXPECT", "{}"))
        check_promql(sys.argv[2], sys.argv[3], expect)
    else:
        sys.exit(__doc__)
    if FAILS:
        print(f"{len(FAILS)} failure(s)", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

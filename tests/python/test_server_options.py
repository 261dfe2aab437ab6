"""Every INFERMETRICS_ServerOptionsSet* option reaches the native server from Python: each keyword of
Server / start_http_server is observed in what the server does (the format served, connections
closed at the cap, series present or absent, log lines), and prometheus_client's TLS arguments
serve real HTTPS (certificates made by the openssl CLI here) through a private web-config.yml."""
import http.client
import os
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

OM_ACCEPT = "application/openmetrics-text; version=1.0.0"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    # an operator's INFERMETRICS_* variable would win over the arguments under test
    for k in list(os.environ):
        if k.startswith("INFERMETRICS_") and k != "INFERMETRICS_LIBRARY":
            monkeypatch.delenv(k)


@pytest.fixture
def logs(im):
    lines = []
    im.set_log_callback(lambda level, msg: lines.append(msg))
    yield lines
    im.set_log_callback(None)


def get(port, accept=None, scheme="http", context=None):
    req = urllib.request.Request("%s://127.0.0.1:%d/metrics" % (scheme, port),
                                 headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10, context=context) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def series_names(text):
    return {ln.split("{")[0].split(" ")[0] for ln in text.splitlines() if ln and not ln.startswith("#")}


# --- plain options -----------------------------------------------------------------------------
def test_openmetrics_served_only_when_enabled(im):
    with im.Server(address="127.0.0.1", port=0, gpu=False) as plain, \
            im.start_http_server(0, addr="127.0.0.1", openmetrics=True, gpu=False) as om:
        _, ctype, body = get(plain.port, OM_ACCEPT)
        assert ctype.startswith("text/plain; version=0.0.4") and "# EOF" not in body
        _, ctype, body = get(om.port, OM_ACCEPT)
        assert ctype == "application/openmetrics-text; version=1.0.0; charset=utf-8"
        assert body.endswith("# EOF\n")
        # without the Accept header the OpenMetrics server still answers 0.0.4
        _, ctype, body = get(om.port)
        assert ctype.startswith("text/plain; version=0.0.4") and "# EOF" not in body
    with im.Server(address="127.0.0.1", port=0, gpu=False, openmetrics=False) as off:
        assert get(off.port, OM_ACCEPT)[1].startswith("text/plain")


def _idle_connection(port):
    """A keep-alive connection that has had one full response and is now idle."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    assert r.status == 200
    r.read()
    return conn


def _closed_by_peer(sock, wait):
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def test_max_connections_closes_the_idle_connection_at_the_cap(im):
    # cap 1: a second client makes the server close the first, idle one
    with im.Server(address="127.0.0.1", port=0, gpu=False, max_connections=1) as s:
        idle = _idle_connection(s.port)
        assert get(s.port)[0] == 200
        assert _closed_by_peer(idle.sock, 5), "the idle connection was not closed at max_connections=1"
        idle.close()
    # the library's default (256): the idle connection stays open
    with im.Server(address="127.0.0.1", port=0, gpu=False) as s:
        idle = _idle_connection(s.port)
        assert get(s.port)[0] == 200
        assert not _closed_by_peer(idle.sock, 0.5)
        idle.close()


@pytest.mark.parametrize("bad", [0, 65537, 2 ** 32, -1])
def test_max_connections_out_of_range(im, bad):
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=0, max_connections=bad)
    assert e.value.code == im.ErrorCode.INVALID_ARG and "65536" in e.value.message


def _wait_for(server, predicate, what):
    deadline = time.monotonic() + 20
    while True:
        text = server.snapshot()
        if predicate(text):
            return text
        assert time.monotonic() < deadline, "%s never held:\n%s" % (what, text)
        time.sleep(0.05)


def test_collector_switches(im):
    with im.Server(address="127.0.0.1", port=0, gpu=False, interval_ms=100) as on:
        names = series_names(_wait_for(on, lambda t: "process_resident_memory_bytes" in t, "process series"))
        assert "nv_cpu_memory_total_bytes" in names and "nv_pinned_memory_pool_total_bytes" in names
        assert not any(n.startswith("node_") for n in names), "host collector is off by default"
    with im.Server(address="127.0.0.1", port=0, gpu=False, interval_ms=100, process=False,
                   collectors={"cpu": False, "pinned": False, "container": False}) as off:
        time.sleep(0.3)  # a few collection rounds
        names = series_names(off.snapshot())
        for prefix in ("process_", "nv_cpu_", "nv_pinned_", "nv_container_", "nv_gpu_", "node_"):
            assert not any(n.startswith(prefix) for n in names), (prefix, sorted(names))
    # collectors= is applied after the single switches: it wins over process=True
    with im.Server(address="127.0.0.1", port=0, gpu=False, process=True, collectors={"process": False}) as s:
        assert not any(n.startswith("process_") for n in series_names(s.snapshot()))
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=0, collectors={"bogus": True})
    assert e.value.code == im.ErrorCode.INVALID_ARG and "bogus" in e.value.message
    with pytest.raises(TypeError):
        im.Server(address="127.0.0.1", port=0, collectors=["host"])


def _mount_point(path):
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def test_host_and_disk_paths(im, tmp_path):
    with im.Server(address="127.0.0.1", port=0, gpu=False, host=True, disk_paths=[str(tmp_path)],
                   interval_ms=100) as s:
        mp = _mount_point(tmp_path)
        text = _wait_for(s, lambda t: 'mountpoint="%s"' % mp in t, "node_filesystem for %s" % mp)
        assert any(n.startswith("node_memory_") for n in series_names(text))
        if mp != "/":
            assert 'mountpoint="/"' not in text, "disk_paths replaces the default '/'"
    with im.start_collectors(host=True, disk_paths=str(tmp_path) + ",/") as s:
        _wait_for(s, lambda t: 'node_filesystem_size_bytes{' in t, "node_filesystem series")
    for bad in ("relative/dir", ["/ok", "/a,b"]):
        with pytest.raises(im.InfermetricsError) as e:
            im.Server(address="127.0.0.1", port=0, host=True, disk_paths=bad)
        assert e.value.code == im.ErrorCode.INVALID_ARG


def test_nvml_library_and_gpu_vendors(im, logs):
    with im.Server(address="127.0.0.1", port=0, nvml_library="/nonexistent/libnvml-test.so"):
        pass
    assert any("/nonexistent/libnvml-test.so" in m for m in logs), logs
    del logs[:]
    # nvidia switched off: NVML is not even tried
    with im.Server(address="127.0.0.1", port=0, nvml_library="/nonexistent/libnvml-test.so",
                   gpu_vendors={"nvidia": False, "amd": True}):
        pass
    assert not any("NVML" in m for m in logs), logs
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=0, gpu_vendors={"voodoo": True})
    assert e.value.code == im.ErrorCode.INVALID_ARG and "nvidia" in e.value.message
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=0, nvml_library="")
    assert e.value.code == im.ErrorCode.INVALID_ARG


def test_web_config_errors_name_the_file(im, tmp_path):
    with pytest.raises(im.InfermetricsError) as e:
        im.Server(address="127.0.0.1", port=0, web_config=tmp_path / "missing.yml")
    assert e.value.code == im.ErrorCode.INVALID_ARG and "missing.yml" in e.value.message
    bad = tmp_path / "bad.yml"
    bad.write_text("tls_server_config:\n  nonsense: 1\n")
    with pytest.raises(im.InfermetricsError) as e:
        im.start_http_server(0, addr="127.0.0.1", web_config=str(bad))
    assert "bad.yml" in e.value.message and "nonsense" in e.value.message


def test_unknown_start_http_server_keyword(im):
    with pytest.raises(TypeError) as e:
        im.start_http_server(0, addr="127.0.0.1", max_conections=3)
    assert "max_conections" in str(e.value)


# --- TLS ---------------------------------------------------------------------------------------
def _openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "openssl %s failed:\n%s" % (" ".join(args), r.stderr)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made by the
    openssl CLI, in a directory whose name needs YAML quoting."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed: it makes the test certificates")
    d = tmp_path_factory.mktemp("pki") / 'a "quoted" dir: #1'
    d.mkdir()
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=im test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)
    for name, eku, san in (("server", "serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
                           ("client", "clientAuth", "subjectAltName=DNS:client.test")):
        (d / (name + ".ext")).write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                         "extendedKeyUsage=%s\n%s\n" % (eku, san))
        _openssl("req", "-new", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
                 cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext", cwd=d)
    return d


def client_context(pki, with_cert=False):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if with_cert:
        ctx.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return ctx


@pytest.fixture
def private_tmp(monkeypatch, tmp_path):
    """tempfile's directory pointed at an empty folder, to see what start_http_server leaves."""
    d = tmp_path / "tempdir"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_tls_certfile_keyfile(im, pki, private_tmp):
    with im.Counter("pyopt_tls_served", "Served over TLS") as c:
        c.inc(3)
        s = im.start_http_server(0, addr="127.0.0.1", certfile=str(pki / "server.crt"), keyfile=pki / "server.key")
        try:
            status, ctype, body = get(s.port, scheme="https", context=client_context(pki))
            assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
            assert "pyopt_tls_served_total 3" in body.splitlines()
            # plain HTTP to the TLS port gets no metrics
            with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
                get(s.port)
            # the private web-config: 0600 in a 0700 directory of its own, the paths quoted
            (tmp,) = os.listdir(str(private_tmp))
            assert s.web_config_dir == str(private_tmp / tmp)
            cfg = os.path.join(s.web_config_dir, "web-config.yml")
            assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(s.web_config_dir).st_mode) == 0o700
            text = open(cfg, encoding="utf-8").read()
            assert 'cert_file: "%s"' % str(pki / "server.crt").replace('"', '\\"') in text, text
            assert "client_auth_type" not in text
        finally:
            s.close()
        assert not os.path.exists(s.web_config_dir), "the private web-config outlived the server"
        assert os.listdir(str(private_tmp)) == []


def test_tls_client_ca_verifies_if_given(im, pki):
    with im.start_http_server(0, addr="127.0.0.1", certfile=str(pki / "server.crt"), keyfile=str(pki / "server.key"),
                              client_cafile=str(pki / "ca.crt")) as s:
        assert "client_auth_type: VerifyClientCertIfGiven" in open(
            os.path.join(s.web_config_dir, "web-config.yml")).read()
        assert get(s.port, scheme="https", context=client_context(pki))[0] == 200
        assert get(s.port, scheme="https", context=client_context(pki, with_cert=True))[0] == 200


def test_tls_client_auth_required(im, pki):
    with im.start_http_server(0, addr="127.0.0.1", certfile=str(pki / "server.crt"), keyfile=str(pki / "server.key"),
                              client_cafile=str(pki / "ca.crt"), client_auth_required=True,
                              openmetrics=True) as s:
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            get(s.port, scheme="https", context=client_context(pki))
        status, ctype, body = get(s.port, OM_ACCEPT, scheme="https", context=client_context(pki, with_cert=True))
        assert status == 200 and ctype.startswith("application/openmetrics-text") and body.endswith("# EOF\n")


def test_tls_argument_errors(im, pki, private_tmp):
    crt, key, ca = str(pki / "server.crt"), str(pki / "server.key"), str(pki / "ca.crt")
    cases = [
        (dict(certfile=crt, keyfile=key, client_capath=str(pki)), "client_capath"),
        (dict(certfile=crt, keyfile=key, web_config=str(pki / "x.yml")), "web_config"),
        (dict(certfile=crt), "both certfile and keyfile"),
        (dict(certfile=crt, keyfile=key, client_auth_required=True), "client_cafile"),
        (dict(certfile=crt, keyfile=key, protocol=ssl.PROTOCOL_TLS_CLIENT), "protocol"),
    ]
    for kwargs, words in cases:
        with pytest.raises(ValueError) as e:
            im.start_http_server(0, addr="127.0.0.1", **kwargs)
        assert words in str(e.value), (kwargs, str(e.value))
    # what the library refuses comes back as its InfermetricsError, and the temp dir goes too
    with pytest.raises(im.InfermetricsError) as e:
        im.start_http_server(0, addr="127.0.0.1", certfile=crt, keyfile=crt)
    assert e.value.code == im.ErrorCode.INVALID_ARG and "key_file" in e.value.message
    assert os.listdir(str(private_tmp)) == []

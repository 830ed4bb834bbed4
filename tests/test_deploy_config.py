"""The shipped deployment files are valid as shipped: Debian's nginx accepts the site file with its
snippets (TLS with a throwaway certificate), and systemd accepts the unit (docs/deployment.md)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hosted_stack import NGINX, NGINX_SNIPPETS, REPO
from live_server import hjertekom_command

DEPLOY = REPO / "deploy"


def test_the_debian_site_file_passes_nginx_t(tmp_path: Path) -> None:
    if not NGINX.exists():
        pytest.fail(f"Debian's nginx is needed at {NGINX} (make nginx)")
    conf_dir = tmp_path / "hjertekom"
    shutil.copytree(NGINX_SNIPPETS, conf_dir)
    shutil.copyfile(conf_dir / "identity-proxy.conf", conf_dir / "identity.conf")
    (conf_dir / "htpasswd").write_text("")
    (conf_dir / "proxy-secret.conf").write_text('proxy_set_header X-HjerteKom-Proxy-Secret "00";\n')
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=hjertekom.example.dk"], check=True, capture_output=True, timeout=60)
    site = (DEPLOY / "nginx" / "sites-available" / "hjertekom").read_text()
    site = site.replace("/etc/ssl/hjertekom/fullchain.pem", str(cert)).replace("/etc/ssl/hjertekom/privkey.pem", str(key))
    site = site.replace("/var/log/nginx", str(tmp_path))
    (tmp_path / "site.conf").write_text(site)
    temps = " ".join(f"{name}_temp_path {tmp_path / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                         "scgi"))
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
                                         f"events {{}}\nhttp {{ access_log off; {temps} include site.conf; }}\n")
    done = subprocess.run([str(NGINX), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_the_systemd_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    venv_bin = hjertekom_command()
    unit = (DEPLOY / "systemd" / "hjertekom.service").read_text()
    unit = unit.replace("/srv/hjertekom/.venv/bin/hjertekom", venv_bin)
    unit = unit.replace("EnvironmentFile=/etc/hjertekom/hjertekom.env", "EnvironmentFile=-/etc/hjertekom/hjertekom.env")
    (tmp_path / "hjertekom.service").write_text(unit)
    done = subprocess.run([analyze, "verify", str(tmp_path / "hjertekom.service")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr

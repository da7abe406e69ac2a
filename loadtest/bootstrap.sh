#!/bin/bash
# Bootstraps a Locust @@ROLE@@ on Amazon Linux 2023 (rendered into EC2 user data at synth time).
# Any failure stops the script before the service is installed: Locust never starts half-set-up,
# and the reason is in /var/log/locust-bootstrap.log and in the instance's console output.
set -euo pipefail
exec > >(tee -a /var/log/locust-bootstrap.log > /dev/console) 2>&1
trap 'echo "locust bootstrap FAILED at line $LINENO"' ERR

echo "locust bootstrap: installing Locust @@LOCUST_VERSION@@ from the hash-locked requirements"
dnf install -y -q python3.11 python3.11-pip
install -d -m 0755 /etc/locust
# Every distribution pinned with its hash (loadtest/requirements.lock): a changed file is refused.
cat > /etc/locust/requirements.lock <<'LOCK'
@@REQUIREMENTS_LOCK@@
LOCK
python3.11 -m venv /opt/locust
/opt/locust/bin/pip install --quiet --disable-pip-version-check --require-hashes --only-binary=:all: \
  --no-deps -r /etc/locust/requirements.lock
/opt/locust/bin/locust --version | grep -q "@@LOCUST_VERSION@@"

id locust > /dev/null 2>&1 || useradd --system --home-dir /var/lib/locust --shell /sbin/nologin locust
install -d -m 0755 -o locust /var/lib/locust /var/lib/locust/reports
# The locustfile is the project's loadtest/locustfile.py, embedded as it is.
echo '@@LOCUSTFILE_BASE64@@' | base64 -d > /etc/locust/locustfile.py

cat > /etc/locust/locust.env <<'ENVIRONMENT'
@@ENVIRONMENT@@
ENVIRONMENT

cat > /etc/systemd/system/locust.service <<'UNIT'
[Unit]
Description=Locust @@ROLE@@
After=network-online.target
Wants=network-online.target

[Service]
User=locust
WorkingDirectory=/var/lib/locust
EnvironmentFile=/etc/locust/locust.env
ExecStart=/opt/locust/bin/locust -f /etc/locust/locustfile.py
@@SERVICE_POLICY@@

[Install]
WantedBy=multi-user.target
UNIT

systemctl daemon-reload
systemctl enable --now locust.service
echo "locust bootstrap: locust.service started"

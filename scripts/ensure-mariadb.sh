#!/usr/bin/env bash
# Make sure a MariaDB/MySQL server answers on 127.0.0.1:3306 with the test database and user.
# Installs and starts MariaDB from Debian's packages where none is present.
set -euo pipefail

DB=${BILLING_TEST_MYSQL_DB:-billing_test}
# A throwaway account for a local test database; never used outside tests.
USER_NAME=billing_test
USER_PASS=billing_test
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

say() { echo "==> $*" >&2; }

answers() { mariadb-admin --protocol=tcp -h127.0.0.1 -P3306 --connect-timeout=2 ping >/dev/null 2>&1; }

if ! command -v mariadb-admin >/dev/null 2>&1 || ! answers; then
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    say "MariaDB is not installed: apt-get install mariadb-server (about a minute)"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
  fi
  if ! answers; then
    say "starting MariaDB"
    $SUDO mkdir -p /run/mysqld
    $SUDO chown mysql:mysql /run/mysqld
    # Without --user=mysql it refuses to run as root, silently, in the background.
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 60); do
      answers && break
      sleep 0.5
    done
    answers || { say "MariaDB did not start within 30 s; see /var/log/mysql/ or journal"; exit 1; }
  fi
fi

SQL="CREATE DATABASE IF NOT EXISTS \`${DB}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS '${USER_NAME}'@'127.0.0.1' IDENTIFIED BY '${USER_PASS}';
CREATE USER IF NOT EXISTS '${USER_NAME}'@'localhost' IDENTIFIED BY '${USER_PASS}';
GRANT ALL PRIVILEGES ON \`${DB}\`.* TO '${USER_NAME}'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`${DB}\`.* TO '${USER_NAME}'@'localhost';
GRANT ALL PRIVILEGES ON \`${DB}\_%\`.* TO '${USER_NAME}'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`${DB}\_%\`.* TO '${USER_NAME}'@'localhost';
FLUSH PRIVILEGES;"

# CI's root may log in over TCP without a password; Debian's root only over the unix socket.
if mariadb -uroot --protocol=tcp -h127.0.0.1 -P3306 -e "SELECT 1" >/dev/null 2>&1; then
  mariadb -uroot --protocol=tcp -h127.0.0.1 -P3306 -e "$SQL"
else
  $SUDO mariadb -uroot -e "$SQL"
fi
say "MariaDB ready: database ${DB}, user ${USER_NAME} on 127.0.0.1:3306"

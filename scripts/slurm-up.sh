#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine (munge + slurmctld + slurmd, Debian's slurm-wlm), so
# `reportgen run --launcher slurm` and the tests marked `slurm` run against a real Slurm.
# Idempotent: a running cluster is left alone. Needs root and apt; elsewhere it says why and exits 0
# (it is called best-effort by `make test`). Configuration as measured in ../shared/REFERENCE.md §7:
# no cgroups, no accounting database (poll squeue / the results store, not sacct).
set -u
say() { echo "slurm-up: $*"; }
node_ready() { sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'; }

if [ "$(id -u)" != 0 ]; then say "skipped: needs root (on a real cluster, use it as it is)"; exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then say "skipped: needs apt-get (Debian/Ubuntu)"; exit 0; fi
if node_ready; then say "already up: $(sinfo -h -o '%P %D node(s) %T' | head -1)"; exit 0; fi

if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  say "installing slurm-wlm and munge (about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq slurm-wlm >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq slurm-wlm >/dev/null 2>&1 || { say "skipped: apt-get install slurm-wlm failed"; exit 0; }
  fi
fi

# munge: a random 1024-byte key owned by munge, mode 400; the daemon runs as munge.
mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || runuser -u munge -- munged
if ! munge -n | unmunge >/dev/null 2>&1; then say "skipped: munge does not authenticate (see /var/log/munge)"; exit 0; fi

# slurm.conf: this host as controller and the only node; `slurmd -C` reports what it really has, so the
# node is never drained for "low RealMemory".
HOST=$(hostname -s)
NODE=$(slurmd -C 2>/dev/null | grep '^NodeName=' | sed -E 's/ (Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+//g')
[ -n "$NODE" ] || NODE="NodeName=$HOST CPUs=$(nproc) RealMemory=$(awk '/MemTotal/ {print int($2/1024*0.9)}' /proc/meminfo)"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf.new <<CONF
# written by reportgen scripts/slurm-up.sh: a one-node cluster for tests and single-box use
ClusterName=reportgen
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
# a preempted or requeued task is killed 5 s after SIGTERM (default 30 s): it resumes from its checkpoint
KillWait=5
MinJobAge=60
$NODE State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf

pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 1 30); do
  node_ready && { say "up: $(sinfo -h -o '%P %D node(s) %T' | head -1)"; exit 0; }
  # a node left down/drained by an earlier start comes back once the daemons are up
  scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
  sleep 1
done
say "started, but the node is not idle: $(sinfo -h -o '%T %E' 2>&1 | head -1) (see /var/log/slurm/)"
exit 0

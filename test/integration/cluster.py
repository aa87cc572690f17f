# SPDX-License-Identifier: GPL-2.0-only
"""A private three-node RabbitMQ cluster on 127.0.0.1 for the integration tests.

Each node is a servers.RabbitMQ with its own node name, AMQP and distribution ports,
data and log folders under basedir/node-<i>; what makes them one cluster:
  - one epmd on one port for all of them (nodes on one host find each other through
    it), started here before any node, so killing a node never kills it;
  - one Erlang cookie;
  - node 0 boots alone and gets the users (servers.USERS, with the passwords of .users,
    the same on every node); nodes 1.. boot together once it is up and join it through
    peer discovery (cluster_formation.classic_config.nodes naming node 0). A node that
    has data already (start_node after kill, restart) skips discovery and rejoins the
    cluster it was in.

Faults: kill(i) is kill -9 of node i's Erlang VM; start_node(i) boots it again on the
same ports and data; restart(i) is a graceful stop then start. The cluster is up again
once every node answers and sees all the others running (wait_clustered).

Every process carries SR_TEST_SERVER=<tag> (one tag per node, one for the epmd), so
stop() leaves nothing behind.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

from servers import (HOST, USERS, RabbitMQ, ServerError, free_port, kill_tagged,
                     port_open)


class ClusterNode(RabbitMQ):
    """One node of a RabbitMQCluster: a servers.RabbitMQ whose epmd port, cookie and
    users are the cluster's, and which joins the cluster's first node on its first boot."""

    def __init__(self, cluster, index):
        super().__init__(cluster.basedir / f"node-{index}", ca=cluster.ca)
        self.cluster = cluster
        self.index = index
        self.users = cluster.users
        self.node = f"sr_cluster_{cluster.token}_{index}@localhost"
        self.tag = f"{cluster.tag}-node{index}"

    def _pick_epmd_port(self):
        return self.cluster.epmd_port

    def _cookie(self):
        return self.cluster.cookie

    def _extra_conf(self):
        lines = [
            # Other nodes may be down for a while (kill, rolling restart): do not give up
            # on the cluster's tables while they come back.
            "mnesia_table_loading_retry_timeout = 10000",
            "mnesia_table_loading_retry_limit = 30",
        ]
        if self.index:
            seed = self.cluster.nodes[0].node
            lines += [
                "cluster_formation.peer_discovery_backend = classic_config",
                f"cluster_formation.classic_config.nodes.1 = {seed}",
                "cluster_formation.discovery_retry_limit = 60",
                "cluster_formation.discovery_retry_interval = 1000",
            ]
        return "".join(line + "\n" for line in lines)

    def _add_users(self):
        # A joining node takes the cluster's users; node 0 adds them once.
        if self.index == 0:
            super()._add_users()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """kill -9 of this node's Erlang VM (its whole process group: the epmd is not in
        it); returns once it is gone."""
        if not self.running:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


class RabbitMQCluster:
    """size RabbitMQ nodes on 127.0.0.1 clustered together; see the module docstring.

    .nodes[i] has .port, .node (Erlang node name) and .ctl(*args); .users is
    {user: password}, valid on every node; .url(user) names every node."""

    scheme = "amqp"
    START_TIMEOUT = 240  # three Erlang VMs on a loaded 2-core machine

    def __init__(self, basedir, size=3, ca=None):
        self.basedir = Path(basedir)
        self.size = size
        self.ca = ca
        self.token = f"{os.getpid()}_{secrets.token_hex(3)}"
        self.tag = f"rabbitmq-cluster-{os.getpid()}-{secrets.token_hex(4)}"
        self.users = {u: f"{u}-{secrets.token_hex(6)}" for u in USERS}
        self.cookie = secrets.token_hex(16)
        self.epmd_port = None
        self.epmd_proc = None
        self.nodes = []
        self.started = False

    # -- URLs ---------------------------------------------------------------------------

    def _cred(self, user):
        return f"{quote(user, safe='')}:{quote(self.users[user], safe='')}"

    def url(self, user, nodes=None):
        """amqp://user:pw@127.0.0.1:P1,127.0.0.1:P2,.../ naming the nodes of the index
        list nodes (default all, in order): sr connects to the first that answers."""
        indexes = range(self.size) if nodes is None else nodes
        hosts = ",".join(f"{HOST}:{self.nodes[i].port}" for i in indexes)
        return f"{self.scheme}://{self._cred(user)}@{hosts}/"

    def node_url(self, i, user):
        """The URL of node i alone."""
        return self.nodes[i].url(user)

    # -- life ---------------------------------------------------------------------------

    def _epmd_env(self):
        env = dict(os.environ)
        env.update({"SR_TEST_SERVER": self.tag, "ERL_EPMD_PORT": str(self.epmd_port),
                    "ERL_EPMD_ADDRESS": HOST})
        return env

    def _start_epmd(self):
        epmd = shutil.which("epmd") or "/usr/bin/epmd"
        for _ in range(3):
            self.epmd_port = free_port()
            log = self.basedir / "epmd.log"
            self.basedir.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as out:
                # In the foreground (no -daemon), so we own it; its own session, so a
                # Ctrl-C of the test run does not hit it before stop().
                self.epmd_proc = subprocess.Popen(
                    [epmd, "-port", str(self.epmd_port), "-address", HOST],
                    env=self._epmd_env(), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.epmd_proc.poll() is not None:
                    break
                if port_open(self.epmd_port):
                    return
                time.sleep(0.1)
            self._stop_epmd()
        raise ServerError(f"epmd did not listen on {HOST}:{self.epmd_port}")

    def _stop_epmd(self):
        if self.epmd_proc is not None and self.epmd_proc.poll() is None:
            self.epmd_proc.kill()
            self.epmd_proc.wait(timeout=10)
        kill_tagged(self.tag)

    def start(self):
        """Start every node and wait until they form one cluster; users added once."""
        t0 = time.monotonic()
        try:
            self._start_epmd()
            self.nodes = [ClusterNode(self, i) for i in range(self.size)]
            errors = []

            def boot(node):
                try:
                    node.start()
                except Exception as err:  # reported below, with the node's logs
                    errors.append(err)

            # All at once: nodes 1.. retry their peer discovery until node 0 answers
            # (discovery_retry_limit), so the VMs boot side by side.
            threads = [threading.Thread(target=boot, args=(n,)) for n in self.nodes]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise ServerError("\n".join(str(e) for e in errors))
            self.wait_clustered()
        except BaseException:
            self.stop()
            raise
        self.started = True
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """Stop every node and the epmd; safe to call twice."""
        for node in reversed(self.nodes):
            try:
                node.stop()
            except Exception:
                pass
        self._stop_epmd()
        self.started = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def logs(self):
        return "\n".join(n.logs() for n in self.nodes)

    def pids(self):
        pids = []
        for n in self.nodes:
            pids += n.pids()
        if self.epmd_proc is not None and self.epmd_proc.poll() is None:
            pids.append(self.epmd_proc.pid)
        return pids

    # -- faults -------------------------------------------------------------------------

    def kill(self, i):
        """kill -9 node i's Erlang VM (the shared epmd stays)."""
        self.nodes[i].kill()

    def start_node(self, i, wait=True):
        """Boot node i again on its ports and data after kill(i); it rejoins the cluster.
        With wait, returns once the whole cluster sees every node running."""
        node = self.nodes[i]
        if node.running:
            raise ServerError(f"{node.node} is running already")
        node.restart()  # the stop part does nothing on a dead node
        if wait:
            self.wait_clustered(via=i)

    def restart(self, i, wait=True):
        """Graceful stop of node i, then start again; with wait, returns once the cluster
        sees every node running again."""
        self.nodes[i].restart()
        if wait:
            self.wait_clustered(via=i)

    # -- questions ----------------------------------------------------------------------

    def running_node(self):
        """A node whose VM runs (for rabbitmqctl)."""
        for node in self.nodes:
            if node.running:
                return node
        raise ServerError("no node of the cluster is running")

    def ctl(self, *args, **kw):
        """rabbitmqctl against a running node."""
        return self.running_node().ctl(*args, **kw)

    def running_nodes(self, via=None):
        """Erlang names of the nodes the cluster says are running (asked of node via,
        default any running node)."""
        node = self.nodes[via] if via is not None else self.running_node()
        out = node.ctl("cluster_status", "--formatter", "json", check=False, timeout=60)
        if out.returncode != 0:
            return []
        try:
            return json.loads(out.stdout).get("running_nodes", [])
        except ValueError:
            return []

    def wait_clustered(self, timeout=None, via=None):
        """Wait until every node runs and node via (default the last one) sees all of
        them running: one rabbitmqctl call a round, each an Erlang VM start."""
        timeout = timeout or self.START_TIMEOUT
        via = self.size - 1 if via is None else via
        want = sorted(n.node for n in self.nodes)
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            if all(n.running for n in self.nodes):
                seen = sorted(self.running_nodes(via=via))
                if seen == want:
                    return
            time.sleep(0.5)
        raise ServerError(f"cluster not formed after {timeout}s: want {want}, "
                          f"{self.nodes[via].node} sees {seen}\n{self.logs()}")

    def queues(self):
        """{queue name: {"type", "leader", "members", "messages", "consumers"}} of vhost /."""
        out = self.ctl("list_queues", "name", "type", "leader", "members", "messages",
                       "consumers", "--formatter", "json", timeout=60)
        return {q["name"]: q for q in json.loads(out.stdout or "[]")}

    def queue_leader(self, name):
        """The Erlang node name of the leader of quorum queue name (None: no such queue,
        or no leader now)."""
        q = self.queues().get(name)
        return q.get("leader") if q else None

    def node_index(self, erlang_name):
        """Index in .nodes of the node named erlang_name (its Erlang name)."""
        for i, node in enumerate(self.nodes):
            if node.node == erlang_name:
                return i
        raise KeyError(erlang_name)

    def connections(self):
        """[(user, node index)] of the AMQP connections open on the cluster now."""
        out = self.ctl("list_connections", "user", "node", "--formatter", "json", timeout=60)
        return [(c["user"], self.node_index(c["node"])) for c in json.loads(out.stdout or "[]")]

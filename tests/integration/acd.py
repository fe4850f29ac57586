"""The contact center on loopback: contrib/kamailio/acd.cfg run as it
ships (registrar with digest auth, presence server, one queue), with its
db_text tables in a temporary directory.

    with AcdKamailio({"agent1": "pw1", "agent2": "pw2"}).start() as acd:
        ccpd options: acd.agent_options("agent1")
        caller dials acd.queue_uri

Standard library only; stopped by PID like every peer in peers.py.
"""

import os
import shutil
import subprocess

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
ACD_CFG = os.environ.get(
    "CCPD_ACD_CFG",
    os.path.join(HERE, "..", "..", "contrib", "kamailio", "acd.cfg"))
DBTEXT_SCHEMA = "/usr/share/kamailio/dbtext/kamailio"
_TABLES = ("version", "subscriber", "presentity", "active_watchers",
           "watchers", "xcap", "pua")


class AcdKamailio(peers.Kamailio):
    """contrib/kamailio/acd.cfg on 127.0.0.1:port/udp. agents maps each
    member of the queue to its password, in round-robin order."""

    def __init__(self, agents, ring_ms=4000, retry_after=30, port=None,
                 queue="queue", debug=2):
        super().__init__(port=port, debug=debug)
        self.agents = dict(agents)
        self.ring_ms = ring_ms
        self.retry_after = retry_after
        self.queue = queue
        self.db_dir = os.path.join(self.dir, "db")

    @property
    def queue_uri(self):
        return "sip:%s@%s:%d" % (self.queue, peers.LOOPBACK, self.port)

    def agent_options(self, user, **extra):
        """ccpd settings for a member of the queue, presence on."""
        o = {
            "sip_user": user,
            "sip_password": self.agents[user],
            "sip_registrar": "sip:%s:%d" % (peers.LOOPBACK, self.port),
            "reg_interval": "60",
            "presence": "on",
            "presence_expires": "120",
        }
        o.update(extra)
        return o

    def _write_config(self):
        os.makedirs(self.db_dir, exist_ok=True)
        for t in _TABLES:
            shutil.copy(os.path.join(DBTEXT_SCHEMA, t),
                        os.path.join(self.db_dir, t))
        shutil.copy(os.path.join(DBTEXT_SCHEMA, "htable"),
                    os.path.join(self.db_dir, "acd_agents"))
        with open(os.path.join(self.db_dir, "version"), "a") as f:
            f.write("0:acd_agents:2\n")
        with open(os.path.join(self.db_dir, "subscriber"), "a") as f:
            for i, (user, pw) in enumerate(self.agents.items(), 1):
                # ha1 and ha1b are computed (calculate_ha1); db_text wants a value
                f.write("%d:%s:%s:%s:-:-\n" % (i, user, peers.LOOPBACK, pw))
        with open(os.path.join(self.db_dir, "acd_agents"), "a") as f:
            for i, user in enumerate(self.agents, 0):
                # key_name: the position; key_type 0, value_type 0
                # (text); key_value: the user; expires 0
                f.write("%d:%d:0:0:%s:0\n" % (i + 1, i, user))
        shutil.copy(ACD_CFG, self.cfg_path)

    def start(self, timeout=10.0):
        self._write_config()
        self._log = open(self.log_path, "ab")
        args = [peers.KAMAILIO, "-f", self.cfg_path, "-DD", "-E",
                "-w", self.dir, "-Y", self.run_dir, "-m", "64", "-M", "8",
                "-A", "ACD_LISTEN=udp:%s:%d" % (peers.LOOPBACK, self.port),
                "-A", 'ACD_DB="text://%s"' % self.db_dir,
                "-A", 'ACD_CTL="unix:%s"' % self.ctl_path,
                "-A", 'ACD_MPATH="%s"' % peers.KAMAILIO_MODULE_PATH,
                "-A", 'ACD_QUEUE="%s"' % self.queue,
                "-A", "ACD_RING_MS=%d" % self.ring_ms,
                "-A", 'ACD_RETRY_AFTER="%d"' % self.retry_after]
        if self.debug != 2:
            args += ["--debug=%d" % self.debug]
        self.proc = peers._spawn(args, stdin=subprocess.DEVNULL,
                                 stdout=self._log, stderr=subprocess.STDOUT,
                                 cwd=self.dir, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

"""Helper modules kept in S3 (DESIGN §11, §12), fetched once per instance, their sha256 checked."""

import hashlib
import importlib
import os

from rules import spaced


def load(agent, name, sha):
    """The module `name` whose source has this sha256 (fetched once per instance), or None when S3 cannot give it."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name + ".py")
    for _ in spaced(3):
        if os.path.exists(path) and digest(path) == sha:  # fetched before, or by a report beside this one
            return importlib.import_module(name)
        data = agent.get(code_key(agent, sha))
        if data is not None and hashlib.sha256(data).hexdigest() == sha:
            with open(f"{path}{os.getpid()}", "wb") as out:
                out.write(data)
            os.replace(out.name, path)  # whole, for reports side by side
            return importlib.import_module(name)
    return None


def digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def code_key(agent, sha):
    return "{}/{}/{}{}".format(agent.s["folder"], agent.cfg["control"]["code"], sha, agent.cfg["module_suffix"])


def prepare(agent):
    s, cfg = agent.s, agent.cfg
    module = load(agent, cfg["workenv_module"], s["workenv"])
    if module is not None:
        return module.prepare(agent)
    key = code_key(agent, s["workenv"])
    agent.note(f"not ready: cannot read s3://{s['bucket']}/{key}")
    with open(os.path.join(agent.dir, cfg["not_ready"]), "w") as out:
        out.write("{} {}: cannot read s3://{}/{}".format(cfg["status"]["failed"], cfg["helper_reason"], s["bucket"], key))
    return 1

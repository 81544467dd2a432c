#!/usr/bin/env python3
"""Generates an RBAC-heavy input for bench/rbac.sh: N Roles/ClusterRoles and N bindings over
100 namespaces, with the Kubernetes bootstrap roles (examples/rbac/bootstrap-roles.yaml), and N/10
Deployments whose service accounts the bindings name. Deterministic (seeded).

Usage: gen_rbac.py N OUT_DIR
"""
import os
import random
import shutil
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(17)
os.makedirs(out, exist_ok=True)
shutil.copy(os.path.join(os.path.dirname(__file__), "..", "examples", "rbac", "bootstrap-roles.yaml"), out)

NAMESPACES = [f"ns-{i}" for i in range(100)]
RESOURCES = [
    ("", ["pods", "services", "configmaps", "secrets", "pods/log", "pods/exec", "events", "serviceaccounts", "endpoints", "persistentvolumeclaims"]),
    ("apps", ["deployments", "statefulsets", "daemonsets", "replicasets", "deployments/scale"]),
    ("batch", ["jobs", "cronjobs"]),
    ("networking.k8s.io", ["ingresses", "networkpolicies"]),
    ("rbac.authorization.k8s.io", ["roles", "rolebindings"]),
] + [(f"crd{i}.example.com", [f"widgets{i}", f"gadgets{i}", f"widgets{i}/status"]) for i in range(200)]
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def rule():
    group, resources = rng.choice(RESOURCES)
    r = {
        "apiGroups": [group],
        "resources": rng.sample(resources, k=min(len(resources), rng.randint(1, 3))),
        "verbs": rng.sample(VERBS, k=rng.randint(1, 4)),
    }
    if rng.random() < 0.1:
        r["resourceNames"] = [f"obj-{rng.randint(0, 50)}"]
    if rng.random() < 0.01:
        r["verbs"] = ["*"]
    return r


def y(v):
    return '"' + v + '"'


def rule_yaml(r):
    s = f"- apiGroups: [{', '.join(y(g) for g in r['apiGroups'])}]\n"
    s += f"  resources: [{', '.join(r['resources'])}]\n"
    s += f"  verbs: [{', '.join(y(v) for v in r['verbs'])}]\n"
    if "resourceNames" in r:
        s += f"  resourceNames: [{', '.join(r['resourceNames'])}]\n"
    return s


roles = []
with open(os.path.join(out, "roles.yaml"), "w") as f:
    for i in range(n):
        cluster = i % 5 == 0
        ns = rng.choice(NAMESPACES)
        name = f"role-{i}"
        roles.append(("ClusterRole" if cluster else "Role", ns, name))
        meta = f"{{name: {name}}}" if cluster else f"{{name: {name}, namespace: {ns}}}"
        f.write(f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {'ClusterRole' if cluster else 'Role'}\nmetadata: {meta}\nrules:\n")
        for _ in range(rng.randint(2, 8)):
            f.write(rule_yaml(rule()))

with open(os.path.join(out, "bindings.yaml"), "w") as f:
    for i in range(n):
        kind, rns, rname = rng.choice(roles)
        if rng.random() < 0.02:
            kind, rname = "ClusterRole", rng.choice(["view", "edit", "admin"])
        subjects = []
        for _ in range(rng.randint(1, 3)):
            x = rng.random()
            if x < 0.5:
                subjects.append(f"- {{kind: ServiceAccount, name: sa-{rng.randint(0, 20)}, namespace: {rng.choice(NAMESPACES)}}}")
            elif x < 0.8:
                subjects.append(f"- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: user-{rng.randint(0, 500)}}}")
            else:
                subjects.append(f"- {{apiGroup: rbac.authorization.k8s.io, kind: Group, name: group-{rng.randint(0, 50)}}}")
        if kind == "Role":
            f.write(f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: binding-{i}, namespace: {rns}}}\n")
        elif rng.random() < 0.3:
            f.write(f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: binding-{i}}}\n")
        else:
            f.write(f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: binding-{i}, namespace: {rng.choice(NAMESPACES)}}}\n")
        f.write(f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {kind}, name: {rname}}}\nsubjects:\n")
        f.write("\n".join(subjects) + "\n")

with open(os.path.join(out, "workloads.yaml"), "w") as f:
    for i in range(n // 10):
        ns = rng.choice(NAMESPACES)
        f.write(
            f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: {ns}}}\n"
            f"spec:\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n"
            f"    spec:\n      serviceAccountName: sa-{rng.randint(0, 20)}\n      containers:\n"
            f"      - {{name: app, image: registry.example.com/app@sha256:{'0' * 64}}}\n"
        )

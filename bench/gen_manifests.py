#!/usr/bin/env python3
"""Generates N realistic Kubernetes objects for benchmarking `kubevigil scan`.

Mix: Deployments 30%, Services 25%, ConfigMaps 20%, Secrets 10%, RBAC 15% (Roles, RoleBindings,
ClusterRoles), spread over namespaces, in files of 1,000 objects each.
"""
import os
import random
import sys

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: {ns}
  labels: {{app: app-{i}, team: team-{t}}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}, team: team-{t}}}
    spec:
      serviceAccountName: app-{i}
      securityContext:
        runAsNonRoot: true
        seccompProfile: {{type: RuntimeDefault}}
      containers:
      - name: app
        image: {image}
        ports:
        - {{name: http, containerPort: 8080}}
        env:
        - {{name: LOG_LEVEL, value: info}}
        - {{name: DB_PASSWORD, valueFrom: {{secretKeyRef: {{name: app-{i}, key: password}}}}}}
        resources:
          requests: {{cpu: 100m, memory: 128Mi}}
          limits: {{cpu: 500m, memory: 256Mi}}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {{drop: [ALL]}}
      - name: proxy
        image: envoyproxy/envoy:v1.31.{t}
        ports:
        - {{name: admin, containerPort: 9901}}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: {ns}
spec:
  type: {svctype}
  selector: {{app: app-{i}}}
  ports:
  - {{name: http, port: 80, targetPort: http}}
"""
CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-{i}
  namespace: {ns}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
  ENDPOINT: https://api-{i}.example.com
  settings.yaml: |
    retries: 3
    timeout: 30s
"""
SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: app-{i}
  namespace: {ns}
type: Opaque
data:
  password: cGFzc3dvcmQ=
"""
ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader-{i}
  namespace: {ns}
rules:
- apiGroups: [""]
  resources: [pods, services, configmaps]
  verbs: [get, list, watch]
"""
BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader-{i}
  namespace: {ns}
subjects:
- {{kind: ServiceAccount, name: app-{i}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader-{i}}}
"""
CLUSTERROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-reader-{i}
rules:
- apiGroups: ["apps"]
  resources: [deployments]
  verbs: [get, list]
"""

MIX = [(DEPLOY, 30), (SERVICE, 25), (CONFIGMAP, 20), (SECRET, 10), (ROLE, 6), (BINDING, 6), (CLUSTERROLE, 3)]
IMAGES = ["nginx:1.27.{t}", "ghcr.io/acme/app-{t}:2.{t}", "registry.example.com/team/app@sha256:" + "ab" * 32, "redis:latest"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    out = sys.argv[2] if len(sys.argv) > 2 else "bench/out/manifests"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(42)
    templates = [t for t, w in MIX for _ in range(w)]
    per_file = 1000
    total_bytes = 0
    for f in range(0, n, per_file):
        docs = []
        for i in range(f, min(n, f + per_file)):
            t = rng.randrange(10)
            docs.append(rng.choice(templates).format(
                i=i, t=t, ns=f"ns-{i % 200}",
                image=rng.choice(IMAGES).format(t=t),
                svctype=rng.choice(["ClusterIP", "ClusterIP", "ClusterIP", "NodePort", "LoadBalancer"])))
        text = "---\n".join(docs)
        total_bytes += len(text)
        with open(os.path.join(out, f"part-{f // per_file:05d}.yaml"), "w") as fh:
            fh.write(text)
    print(f"generated {n} objects, {total_bytes / 1e6:.1f} MB in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

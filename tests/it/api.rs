//! The resource model through its public API: every supported field of every kind is known
//! (no warnings), valid, and survives a JSON round trip; hostile YAML is refused quickly.
use flotilla::api::{
    apply_defaults, decode_manifests, decode_value, validate, Deployment, Kind, Node, Pod,
    Resource, Selector, Service,
};

/// One object of each kind, using every field Flotilla supports.
const KITCHEN_SINK: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: edge
  labels: {team: platform}
spec:
  finalizers: [kubernetes]
status:
  phase: Active
---
apiVersion: v1
kind: Pod
metadata:
  name: sink
  namespace: edge
  labels: {app: sink}
  annotations: {example.com/note: "anything"}
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: sink-rs
    uid: 6f1c2d3e-0000-4000-8000-000000000001
    controller: true
    blockOwnerDeletion: true
  finalizers: [example.com/keep]
spec:
  restartPolicy: OnFailure
  nodeName: pi-2
  nodeSelector: {kubernetes.io/arch: arm64}
  tolerations:
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 0
  - key: dedicated
    operator: Equal
    value: edge
    effect: NoSchedule
  hostNetwork: false
  terminationGracePeriodSeconds: 10
  securityContext:
    runAsUser: 1000
    runAsGroup: 1000
    runAsNonRoot: true
    fsGroup: 2000
    supplementalGroups: [3000]
  initContainers:
  - name: init
    image: busybox:1.36
    command: [sh, -c, "echo init"]
  containers:
  - name: app
    image: registry.lan/app:1.0
    command: [/app]
    args: [--port, "8080"]
    workingDir: /srv
    imagePullPolicy: IfNotPresent
    ports:
    - name: http
      containerPort: 8080
      hostPort: 18080
      protocol: TCP
      hostIP: 0.0.0.0
    - containerPort: 5353
      protocol: UDP
    env:
    - name: PLAIN
      value: "1"
    - name: FROM_CM
      valueFrom:
        configMapKeyRef: {name: cfg, key: mode, optional: true}
    - name: FROM_SECRET
      valueFrom:
        secretKeyRef: {name: creds, key: password}
    - name: NODE
      valueFrom:
        fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 500m, memory: 128Mi}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cfg, mountPath: /etc/app, readOnly: true, subPath: app.conf}
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
        host: 127.0.0.1
        scheme: HTTP
        httpHeaders: [{name: X-Probe, value: "1"}]
      initialDelaySeconds: 3
      periodSeconds: 5
      timeoutSeconds: 2
      successThreshold: 1
      failureThreshold: 4
      terminationGracePeriodSeconds: 5
    readinessProbe:
      tcpSocket: {port: 8080, host: 127.0.0.1}
    startupProbe:
      exec: {command: [cat, /tmp/ready]}
      failureThreshold: 30
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "sleep 2"]}
    securityContext:
      runAsUser: 1000
      runAsGroup: 1000
      runAsNonRoot: true
      privileged: false
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
  - name: sidecar
    image: busybox
    lifecycle:
      preStop:
        sleep: {seconds: 3}
  volumes:
  - name: data
    emptyDir: {medium: Memory, sizeLimit: 64Mi}
  - name: host
    hostPath: {path: /var/log, type: Directory}
  - name: cfg
    configMap:
      name: cfg
      items: [{key: app.conf, path: app.conf, mode: 0644}]
      defaultMode: 0444
      optional: false
  - name: creds
    secret:
      secretName: creds
      items: [{key: password, path: password}]
      defaultMode: 0400
      optional: true
status:
  phase: Running
  message: all good
  reason: Started
  conditions:
  - type: Ready
    status: "True"
    lastProbeTime: null
    lastTransitionTime: "2026-11-22T04:07:24Z"
    reason: ContainersReady
    message: ready
  hostIP: 192.168.1.12
  podIP: 10.88.2.5
  podIPs: [{ip: 10.88.2.5}]
  startTime: "2026-11-22T04:07:20Z"
  containerStatuses:
  - name: app
    state: {running: {startedAt: "2026-11-22T04:07:22Z"}}
    lastState:
      terminated:
        exitCode: 137
        signal: 9
        reason: OOMKilled
        message: out of memory
        startedAt: "2026-11-22T04:00:00Z"
        finishedAt: "2026-11-22T04:07:21Z"
    ready: true
    restartCount: 1
    image: registry.lan/app:1.0
    imageID: sha256:abcd
    containerID: flotilla://abc
    started: true
  - name: sidecar
    state: {waiting: {reason: ImagePullBackOff, message: "pull failed"}}
    ready: false
    restartCount: 0
    image: busybox
    imageID: ""
  initContainerStatuses:
  - name: init
    state: {terminated: {exitCode: 0, reason: Completed}}
    ready: false
    restartCount: 0
    image: busybox:1.36
    imageID: sha256:ef
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: edge
  annotations: {deployment.kubernetes.io/revision: "3"}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
    matchExpressions:
    - {key: tier, operator: In, values: [front]}
    - {key: canary, operator: DoesNotExist}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      containers:
      - name: web
        image: nginx:1.27
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  minReadySeconds: 5
  revisionHistoryLimit: 4
  paused: true
  progressDeadlineSeconds: 120
status:
  observedGeneration: 7
  replicas: 3
  updatedReplicas: 2
  readyReplicas: 3
  availableReplicas: 3
  unavailableReplicas: 1
  collisionCount: 0
  conditions:
  - type: Available
    status: "True"
    lastUpdateTime: "2026-11-22T04:07:24Z"
    lastTransitionTime: "2026-11-22T04:07:24Z"
    reason: MinimumReplicasAvailable
    message: Deployment has minimum availability.
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-7d4b9c8f5d
  namespace: edge
  labels: {app: web, pod-template-hash: 7d4b9c8f5d}
spec:
  replicas: 2
  minReadySeconds: 5
  selector:
    matchLabels: {app: web, pod-template-hash: 7d4b9c8f5d}
  template:
    metadata:
      labels: {app: web, pod-template-hash: 7d4b9c8f5d}
    spec:
      containers:
      - name: web
        image: nginx:1.27
status:
  replicas: 2
  fullyLabeledReplicas: 2
  readyReplicas: 1
  availableReplicas: 1
  observedGeneration: 1
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: edge
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      hostNetwork: true
      containers:
      - name: agent
        image: busybox
        ports:
        - containerPort: 9100
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 25%, maxSurge: 0}
  minReadySeconds: 1
  revisionHistoryLimit: 3
status:
  currentNumberScheduled: 3
  numberMisscheduled: 0
  desiredNumberScheduled: 3
  numberReady: 2
  observedGeneration: 2
  updatedNumberScheduled: 3
  numberAvailable: 2
  numberUnavailable: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: edge
spec:
  type: NodePort
  selector: {app: web}
  clusterIP: 10.89.0.10
  clusterIPs: [10.89.0.10]
  ports:
  - {name: http, port: 80, targetPort: http, nodePort: 30080, protocol: TCP}
  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}
status:
  loadBalancer:
    ingress: [{ip: 192.168.1.50}, {hostname: pi-1.lan}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: edge
data:
  mode: fast
  app.conf: |
    listen = 8080
binaryData:
  blob: AAEC
immutable: false
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: edge
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: admin
immutable: true
---
apiVersion: v1
kind: Node
metadata:
  name: pi-2
  labels: {kubernetes.io/arch: arm64, kubernetes.io/hostname: pi-2}
spec:
  podCIDR: 10.88.2.0/24
  podCIDRs: [10.88.2.0/24]
  unschedulable: true
  taints:
  - {key: dedicated, value: edge, effect: NoSchedule, timeAdded: "2026-11-22T04:00:00Z"}
status:
  capacity: {cpu: "4", memory: 3884Mi, pods: "110"}
  allocatable: {cpu: 3800m, memory: 3500Mi, pods: "110"}
  conditions:
  - type: Ready
    status: "True"
    lastHeartbeatTime: "2026-11-22T04:07:24Z"
    lastTransitionTime: "2026-11-22T04:00:00Z"
    reason: AgentReady
    message: agent is posting ready status
  addresses:
  - {type: InternalIP, address: 192.168.1.12}
  - {type: Hostname, address: pi-2}
  nodeInfo:
    architecture: arm64
    operatingSystem: linux
    kernelVersion: 6.6.51+rpt-rpi-v8
    kubeletVersion: flotilla-0.1.0
    osImage: Debian GNU/Linux 12 (bookworm)
    containerRuntimeVersion: libcontainer://0.7.0
    machineID: abc
    bootID: def
---
apiVersion: v1
kind: Event
metadata:
  name: sink.17a3
  namespace: edge
involvedObject:
  apiVersion: v1
  kind: Pod
  namespace: edge
  name: sink
  uid: 6f1c2d3e-0000-4000-8000-000000000002
  resourceVersion: "42"
  fieldPath: spec.containers{app}
reason: BackOff
message: Back-off restarting failed container
type: Warning
count: 3
firstTimestamp: "2026-11-22T04:00:00Z"
lastTimestamp: "2026-11-22T04:07:24Z"
source: {component: agent, host: pi-2}
reportingComponent: flotilla-agent
reportingInstance: pi-2
"#;

#[test]
fn every_supported_field_of_every_kind_decodes_without_warnings() {
    let docs = decode_manifests("sink.yaml", KITCHEN_SINK).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<Kind> = docs.iter().map(|d| d.resource.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::Namespace,
            Kind::Pod,
            Kind::Deployment,
            Kind::ReplicaSet,
            Kind::DaemonSet,
            Kind::Service,
            Kind::ConfigMap,
            Kind::Secret,
            Kind::Node,
            Kind::Event,
        ]
    );
    for d in &docs {
        assert!(
            d.warnings.is_empty(),
            "{}",
            d.warning_messages("sink.yaml").join("\n")
        );
    }
}

#[test]
fn every_kind_survives_a_json_round_trip_and_defaults_are_idempotent() {
    for doc in decode_manifests("sink.yaml", KITCHEN_SINK).unwrap() {
        let written = doc.resource;
        let (back, warnings) = decode_value(None, written.to_value(), true).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(back, written, "{}", written.display_name());

        let mut defaulted = written.clone();
        apply_defaults(&mut defaulted);
        validate(&defaulted).unwrap_or_else(|errs| {
            panic!("{}: {errs:?}", written.display_name());
        });
        let mut twice = defaulted.clone();
        apply_defaults(&mut twice);
        assert_eq!(twice, defaulted, "defaults of {}", written.display_name());
        let via_serde: Resource = serde_json::from_value(defaulted.to_value()).unwrap();
        assert_eq!(via_serde, defaulted);
    }
}

#[test]
fn decoded_values_mean_what_kubernetes_means() {
    let docs = decode_manifests("sink.yaml", KITCHEN_SINK).unwrap();
    let pod: Pod = docs[1].resource.clone().downcast().unwrap();
    let app = &pod.spec.containers[0];
    assert_eq!(app.resources.cpu_request_milli(), 100);
    assert_eq!(app.resources.memory_limit_bytes(), Some(128 << 20));
    // YAML 1.1 octal, as Kubernetes reads it.
    let cfg = pod.spec.volumes[2].config_map.as_ref().unwrap();
    assert_eq!(cfg.default_mode, Some(0o444));
    assert_eq!(cfg.items[0].mode, Some(0o644));
    assert!(pod.is_ready());
    assert_eq!(pod.restart_count(), 1);

    let d: Deployment = docs[2].resource.clone().downcast().unwrap();
    let selector = Selector::from_label_selector(d.spec.selector.as_ref()).unwrap();
    assert_eq!(selector.to_string(), "app=web,!canary,tier in (front)");
    assert!(selector.matches(&d.spec.template.metadata.labels));

    let s: Service = docs[5].resource.clone().downcast().unwrap();
    assert_eq!(s.spec.ports[0].node_port, Some(30080));

    let n: Node = docs[8].resource.clone().downcast().unwrap();
    assert!(n.is_ready());
    assert_eq!(n.allocatable_cpu_milli(), 3800);
    assert_eq!(n.allocatable_memory_bytes(), 3500 << 20);
    assert_eq!(n.architecture(), Some("arm64"));
}

#[test]
fn an_alias_bomb_is_refused() {
    let bomb = "\
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
";
    let e = decode_manifests("bomb.yaml", bomb).unwrap_err();
    assert_eq!(e.errors.len(), 1, "{e}");
    assert_eq!(
        e.to_string(),
        "bomb.yaml:4:36: document 0: alias replay limit exceeded: total_replayed_events=10001 > 10000"
    );
}

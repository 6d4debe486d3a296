//! Schemas of the built-in types, in the `dsl` format. Field lists are complete (as of
//! Kubernetes 1.32) for the types kubectl users explain and validate most; types marked
//! `open` or fields typed `object` are deliberately loose (unknown fields are preserved, not
//! reported). Descriptions are short summaries written for wisp.

/// apimachinery meta/v1 types.
pub const META: &str = r#"
@meta.v1.ObjectMeta | Metadata every persisted object has.
  name string | Unique name within a namespace; cannot be changed.
  generateName string | Prefix the server uses to generate a unique name when name is empty.
  namespace string | Namespace the object lives in; empty for cluster-scoped objects.
  selfLink string | Deprecated; always empty.
  uid string | Unique id assigned by the server; read-only.
  resourceVersion string | Opaque version of the object, changed on every write.
  generation int64 | Sequence number of spec changes; read-only.
  creationTimestamp time | When the object was created; read-only.
  deletionTimestamp time | When the object will be deleted; set by the server.
  deletionGracePeriodSeconds int64 | Seconds allowed for graceful termination; read-only.
  labels map[string] | Key/value pairs used to organize and select objects.
  annotations map[string] | Unstructured key/value data for tools.
  ownerReferences []@meta.v1.OwnerReference | Objects this object depends on.
  finalizers []string | Conditions to satisfy before the object is deleted.
  managedFields []@meta.v1.ManagedFieldsEntry | Field ownership for server-side apply.

@meta.v1.OwnerReference | Identifies an owning object.
  apiVersion! string | API version of the owner.
  kind! string | Kind of the owner.
  name! string | Name of the owner.
  uid! string | UID of the owner.
  controller bool | True if the owner is the managing controller.
  blockOwnerDeletion bool | Owner cannot be deleted before this object in foreground deletion.

@meta.v1.ManagedFieldsEntry | The fields a manager owns.
  manager string | Name of the field manager.
  operation string | Apply or Update.
  apiVersion string | API version the fields are expressed in.
  time time | When the entry was last changed.
  fieldsType string | Format of fieldsV1; always FieldsV1.
  fieldsV1 object | The owned fields.
  subresource string | Subresource the fields were written through.

@meta.v1.ListMeta | Metadata of lists.
  selfLink string | Deprecated; always empty.
  resourceVersion string | Version of the list, usable to watch from.
  continue string | Token to fetch the next page, when the list was limited.
  remainingItemCount int64 | Number of items not yet returned, when known.

@meta.v1.LabelSelector | Selects objects by labels; all requirements must match.
  matchLabels map[string] | Labels that must match exactly.
  matchExpressions []@meta.v1.LabelSelectorRequirement | Set-based requirements.

@meta.v1.LabelSelectorRequirement | A key, an operator and values.
  key! string | The label key.
  operator! string | In, NotIn, Exists or DoesNotExist.
  values []string | Values for In and NotIn.

@meta.v1.Condition | One aspect of an object's state.
  type! string | Condition type in CamelCase.
  status! string(True,False,Unknown) | Status of the condition.
  observedGeneration int64 | Generation the condition was computed from.
  lastTransitionTime! time | When the status last changed.
  reason! string | Machine-readable reason in CamelCase.
  message! string | Human-readable details.

@meta.v1.DeleteOptions open | Options for deletions.
  apiVersion string | Versioned schema of this representation of an object.
  kind string | The REST resource this object represents.
  gracePeriodSeconds int64 | Seconds before the object is deleted.
  propagationPolicy string | Orphan, Background or Foreground.
  orphanDependents bool | Deprecated; use propagationPolicy.
  dryRun []string | All to only validate.
  preconditions object | UID and resourceVersion that must match.

@meta.v1.Status open | The result of an operation that returns no object.
  apiVersion string | Versioned schema of this representation of an object.
  kind string | The REST resource this object represents.
  metadata @meta.v1.ListMeta | Standard list metadata.
  status string | Success or Failure.
  message string | Human-readable description.
  reason string | Machine-readable reason in CamelCase.
  details object | Extra data about the reason.
  code int32 | HTTP status code.

@meta.v1.Patch open | A patch document: JSON patch, merge patch or apply configuration.
"#;

/// core/v1 pod types.
pub const POD: &str = r#"
@core.v1.Pod gvk=:v1:Pod | A group of containers scheduled together on one node.
  spec @core.v1.PodSpec | Desired behavior of the pod.
  status @core.v1.PodStatus | Most recently observed status; read-only.

@core.v1.PodTemplateSpec | The pods a controller creates.
  metadata @meta.v1.ObjectMeta | Labels and annotations of the pods.
  spec @core.v1.PodSpec | Desired behavior of the pods.

@core.v1.PodSpec | Desired behavior of a pod.
  volumes []@core.v1.Volume | Volumes the containers can mount.
  initContainers []@core.v1.Container | Containers run in order before the app containers.
  containers! []@core.v1.Container | The app containers; at least one.
  ephemeralContainers []object | Debugging containers added to a running pod.
  restartPolicy string(Always,OnFailure,Never) | Restart policy for all containers. Default Always.
  terminationGracePeriodSeconds int64 | Seconds between the stop signal and the kill. Default 30.
  activeDeadlineSeconds int64 | Seconds the pod may run before it is failed.
  dnsPolicy string(ClusterFirst,ClusterFirstWithHostNet,Default,None) | DNS policy. Default ClusterFirst.
  nodeSelector map[string] | Node labels the pod must be scheduled onto.
  serviceAccountName string | Service account the pod runs as.
  serviceAccount string | Deprecated alias of serviceAccountName.
  automountServiceAccountToken bool | Whether the service account token is mounted.
  nodeName string | Node the pod is bound to.
  hostNetwork bool | Use the host's network namespace.
  hostPID bool | Use the host's PID namespace.
  hostIPC bool | Use the host's IPC namespace.
  shareProcessNamespace bool | Share one PID namespace between the containers.
  securityContext object | Pod-level security attributes.
  imagePullSecrets []@core.v1.LocalObjectReference | Secrets used to pull images.
  hostname string | Hostname of the pod; defaults to its name.
  subdomain string | Subdomain for the pod's DNS name.
  affinity object | Scheduling constraints.
  schedulerName string | Scheduler that places the pod.
  tolerations []@core.v1.Toleration | Taints the pod tolerates.
  hostAliases []@core.v1.HostAlias | Entries added to the pod's /etc/hosts.
  priorityClassName string | Priority class of the pod.
  priority int32 | Priority value, resolved from the class.
  dnsConfig object | Extra DNS settings.
  readinessGates []@core.v1.PodReadinessGate | Extra conditions for readiness.
  runtimeClassName string | RuntimeClass to run the pod with.
  enableServiceLinks bool | Inject service environment variables. Default true.
  preemptionPolicy string | PreemptLowerPriority or Never.
  overhead map[quantity] | Resources of the pod sandbox.
  topologySpreadConstraints []object | How pods spread across topology domains.
  setHostnameAsFQDN bool | Set the hostname to the fully qualified domain name.
  os object | Operating system of the containers.
  hostUsers bool | Use the host's user namespace. Default true.
  schedulingGates []object | Gates that block scheduling while present.
  resourceClaims []object | Dynamic resource claims.
  resources @core.v1.ResourceRequirements | Pod-level resource requests and limits.

@core.v1.Container | A container in a pod.
  name! string | Name of the container, unique within the pod.
  image string | Container image reference.
  command []string | Entrypoint; the image's ENTRYPOINT when absent.
  args []string | Arguments to the entrypoint; the image's CMD when absent.
  workingDir string | Working directory.
  ports []@core.v1.ContainerPort | Ports the container exposes (informational).
  envFrom []@core.v1.EnvFromSource | Sources of environment variables.
  env []@core.v1.EnvVar | Environment variables.
  resources @core.v1.ResourceRequirements | Compute resources.
  resizePolicy []object | How resources are resized.
  restartPolicy string | Always makes an init container a sidecar.
  volumeMounts []@core.v1.VolumeMount | Volumes mounted into the container.
  volumeDevices []object | Block devices used by the container.
  livenessProbe @core.v1.Probe | Restarts the container when failing.
  readinessProbe @core.v1.Probe | Removes the pod from endpoints when failing.
  startupProbe @core.v1.Probe | Holds other probes until the container started.
  lifecycle object | Hooks run after start and before stop.
  terminationMessagePath string | File the termination message is read from.
  terminationMessagePolicy string | File or FallbackToLogsOnError.
  imagePullPolicy string(Always,IfNotPresent,Never) | When to pull the image.
  securityContext object | Container security attributes.
  stdin bool | Allocate a buffer for stdin.
  stdinOnce bool | Close stdin after the first attach ends.
  tty bool | Allocate a TTY.

@core.v1.ContainerPort | A network port of a container.
  name string | IANA service name of the port.
  hostPort int32 | Port exposed on the host.
  containerPort! int32 | Port on the pod's IP.
  protocol string(TCP,UDP,SCTP) | Protocol. Default TCP.
  hostIP string | Host IP to bind the host port to.

@core.v1.EnvVar | An environment variable.
  name! string | Variable name.
  value string | Value; $(VAR) references are expanded.
  valueFrom object | Source of the value: field, resource, ConfigMap key or Secret key.

@core.v1.EnvFromSource | A set of environment variables from a ConfigMap or Secret.
  prefix string | Prefix added to each key.
  configMapRef object | The ConfigMap.
  secretRef object | The Secret.

@core.v1.ResourceRequirements | Compute resource requests and limits.
  limits map[quantity] | Maximum resources allowed.
  requests map[quantity] | Minimum resources required.
  claims []object | Dynamic resource claims used.

@core.v1.VolumeMount | A volume mounted into a container.
  name! string | Name of the volume.
  readOnly bool | Mount read-only.
  recursiveReadOnly string | Whether read-only applies recursively.
  mountPath! string | Path in the container.
  subPath string | Path within the volume to mount.
  mountPropagation string | How mounts propagate.
  subPathExpr string | Like subPath, with $(VAR) expansion.

@core.v1.Probe | A health check.
  exec object | Command to run.
  httpGet object | HTTP GET request.
  tcpSocket object | TCP connection.
  grpc object | gRPC health check.
  initialDelaySeconds int32 | Seconds before the first probe.
  timeoutSeconds int32 | Seconds before a probe times out. Default 1.
  periodSeconds int32 | Seconds between probes. Default 10.
  successThreshold int32 | Successes to count as passing. Default 1.
  failureThreshold int32 | Failures to count as failing. Default 3.
  terminationGracePeriodSeconds int64 | Grace period after a liveness failure.

@core.v1.Volume open | A named volume; one volume source field is set.
  name! string | Name of the volume, unique within the pod.
  configMap object | A ConfigMap's keys as files.
  secret object | A Secret's keys as files.
  emptyDir object | A directory that lives as long as the pod.
  hostPath object | A path on the host.
  persistentVolumeClaim object | A PersistentVolumeClaim.
  projected object | Several sources in one directory.
  downwardAPI object | Pod fields as files.

@core.v1.LocalObjectReference | A reference to an object in the same namespace.
  name string | Name of the object.

@core.v1.Toleration | Tolerates a taint.
  key string | Taint key; empty matches all with operator Exists.
  operator string(Exists,Equal) | Relation between key and value.
  value string | Taint value.
  effect string | Taint effect to match; empty matches all.
  tolerationSeconds int64 | Seconds a NoExecute taint is tolerated.

@core.v1.HostAlias | An /etc/hosts entry.
  ip! string | IP address.
  hostnames []string | Host names for the IP.

@core.v1.PodReadinessGate | An extra condition for readiness.
  conditionType! string | Condition type in the pod's status.

@core.v1.PodStatus open | Observed state of a pod.
  phase string(Pending,Running,Succeeded,Failed,Unknown) | Lifecycle phase.
  conditions []object | Current conditions.
  message string | Human-readable details.
  reason string | Brief reason in CamelCase.
  hostIP string | IP of the node.
  podIP string | IP of the pod.
  podIPs []object | IPs of the pod.
  startTime time | When the kubelet acknowledged the pod.
  containerStatuses []object | Status of each container.
  initContainerStatuses []object | Status of each init container.
  qosClass string | Quality of service class.
"#;

/// Other core/v1 kinds.
pub const CORE: &str = r#"
@core.v1.Service gvk=:v1:Service | A stable address and load balancer for a set of pods.
  spec @core.v1.ServiceSpec | Desired behavior of the service.
  status object | Observed state of the service.

@core.v1.ServiceSpec | Desired behavior of a service.
  ports []@core.v1.ServicePort | Ports the service exposes.
  selector map[string] | Pods with these labels receive the traffic.
  clusterIP string | Virtual IP; None for a headless service.
  clusterIPs []string | Virtual IPs, one per IP family.
  type string(ClusterIP,NodePort,LoadBalancer,ExternalName) | How the service is exposed. Default ClusterIP.
  externalIPs []string | Extra IPs that route to the service.
  sessionAffinity string(ClientIP,None) | Session affinity. Default None.
  loadBalancerIP string | Deprecated; requested load balancer IP.
  loadBalancerSourceRanges []string | Client CIDRs allowed through the load balancer.
  externalName string | DNS name returned for ExternalName services.
  externalTrafficPolicy string(Cluster,Local) | How external traffic is routed.
  healthCheckNodePort int32 | Node port for load balancer health checks.
  publishNotReadyAddresses bool | Publish endpoints of pods that are not ready.
  sessionAffinityConfig object | Session affinity settings.
  ipFamilies []string | IP families of the service.
  ipFamilyPolicy string | SingleStack, PreferDualStack or RequireDualStack.
  allocateLoadBalancerNodePorts bool | Allocate node ports for LoadBalancer services.
  loadBalancerClass string | Load balancer implementation.
  internalTrafficPolicy string(Cluster,Local) | How in-cluster traffic is routed.
  trafficDistribution string | Preference for routing traffic.

@core.v1.ServicePort | A port of a service.
  name string | Name, required when there are several ports.
  protocol string(TCP,UDP,SCTP) | Protocol. Default TCP.
  appProtocol string | Application protocol.
  port! int32 | Port the service listens on.
  targetPort intstr | Port or port name on the pods. Defaults to port.
  nodePort int32 | Port on every node, for NodePort and LoadBalancer services.

@core.v1.ConfigMap gvk=:v1:ConfigMap | Configuration data for pods.
  immutable bool | When true, the data cannot be changed.
  data map[string] | UTF-8 configuration data.
  binaryData map[bytes] | Binary configuration data, base64-encoded.

@core.v1.Secret gvk=:v1:Secret | Sensitive data such as passwords and keys.
  immutable bool | When true, the data cannot be changed.
  data map[bytes] | Secret data, base64-encoded.
  stringData map[string] | Write-only plain-text data merged into data.
  type string | Type of the secret, e.g. Opaque or kubernetes.io/tls.

@core.v1.Namespace gvk=:v1:Namespace | A scope for names.
  spec @core.v1.NamespaceSpec | Desired behavior of the namespace.
  status object | Observed state of the namespace.

@core.v1.NamespaceSpec | Desired behavior of a namespace.
  finalizers []string | Finalizers run before the namespace is removed.

@core.v1.ServiceAccount gvk=:v1:ServiceAccount | An identity for processes in pods.
  secrets []object | Secrets the service account may use.
  imagePullSecrets []@core.v1.LocalObjectReference | Secrets for pulling images.
  automountServiceAccountToken bool | Whether pods mount a token by default.

@core.v1.Node gvk=:v1:Node | A machine that runs pods.
  spec @core.v1.NodeSpec | Desired behavior of the node.
  status object | Observed state of the node.

@core.v1.NodeSpec | Desired behavior of a node.
  podCIDR string | Pod IP range of the node.
  podCIDRs []string | Pod IP ranges of the node.
  providerID string | Cloud provider id.
  unschedulable bool | When true, no new pods are scheduled onto the node.
  taints []@core.v1.Taint | Taints of the node.
  configSource object | Deprecated.
  externalID string | Deprecated.

@core.v1.Taint | Repels pods that do not tolerate it.
  key! string | Taint key.
  value string | Taint value.
  effect! string(NoSchedule,PreferNoSchedule,NoExecute) | Effect on pods.
  timeAdded time | When a NoExecute taint was added.
"#;

/// apps/v1, batch/v1, autoscaling/v1 Scale and RBAC.
pub const WORKLOADS: &str = r#"
@apps.v1.Deployment gvk=apps:v1:Deployment | Declarative updates for pods and ReplicaSets.
  spec @apps.v1.DeploymentSpec | Desired behavior of the deployment.
  status @apps.v1.DeploymentStatus | Most recently observed status.

@apps.v1.DeploymentSpec | Desired behavior of a deployment.
  replicas int32 | Desired number of pods. Default 1.
  selector! @meta.v1.LabelSelector | Selects the pods; must match the template's labels.
  template! @core.v1.PodTemplateSpec | The pods to create.
  strategy @apps.v1.DeploymentStrategy | How pods are replaced.
  minReadySeconds int32 | Seconds a new pod must be ready to count as available.
  revisionHistoryLimit int32 | Old ReplicaSets kept for rollback. Default 10.
  paused bool | Pause rollouts.
  progressDeadlineSeconds int32 | Seconds before a stalled rollout is reported. Default 600.

@apps.v1.DeploymentStrategy | How a deployment replaces pods.
  type string(Recreate,RollingUpdate) | Strategy type. Default RollingUpdate.
  rollingUpdate @apps.v1.RollingUpdateDeployment | Rolling update parameters.

@apps.v1.RollingUpdateDeployment | Rolling update parameters.
  maxUnavailable intstr | Pods that may be unavailable during the update. Default 25%.
  maxSurge intstr | Pods that may be created above the desired count. Default 25%.

@apps.v1.DeploymentStatus | Observed state of a deployment.
  observedGeneration int64 | Generation observed by the controller.
  replicas int32 | Pods targeted by the deployment.
  updatedReplicas int32 | Pods with the current template.
  readyReplicas int32 | Ready pods.
  availableReplicas int32 | Available pods.
  unavailableReplicas int32 | Pods still needed for full availability.
  conditions []object | Current conditions.
  collisionCount int32 | Hash collisions seen for the template.

@apps.v1.ReplicaSet gvk=apps:v1:ReplicaSet | Keeps a number of identical pods running.
  spec @apps.v1.ReplicaSetSpec | Desired behavior.
  status object | Observed state.

@apps.v1.ReplicaSetSpec | Desired behavior of a ReplicaSet.
  replicas int32 | Desired number of pods. Default 1.
  minReadySeconds int32 | Seconds a new pod must be ready to count as available.
  selector! @meta.v1.LabelSelector | Selects the pods.
  template @core.v1.PodTemplateSpec | The pods to create.

@apps.v1.StatefulSet gvk=apps:v1:StatefulSet | Pods with stable identities and storage.
  spec @apps.v1.StatefulSetSpec | Desired behavior.
  status object | Observed state.

@apps.v1.StatefulSetSpec | Desired behavior of a StatefulSet.
  replicas int32 | Desired number of pods. Default 1.
  selector! @meta.v1.LabelSelector | Selects the pods.
  template! @core.v1.PodTemplateSpec | The pods to create.
  volumeClaimTemplates []object | Claims each pod gets.
  serviceName string | Headless service governing the pods' DNS names.
  podManagementPolicy string(OrderedReady,Parallel) | How pods are created and deleted.
  updateStrategy object | How pods are updated.
  revisionHistoryLimit int32 | Revisions kept. Default 10.
  minReadySeconds int32 | Seconds a new pod must be ready to count as available.
  persistentVolumeClaimRetentionPolicy object | What happens to claims on delete and scale-down.
  ordinals object | Numbering of the pods.

@apps.v1.DaemonSet gvk=apps:v1:DaemonSet | Runs a pod on every eligible node.
  spec @apps.v1.DaemonSetSpec | Desired behavior.
  status object | Observed state.

@apps.v1.DaemonSetSpec | Desired behavior of a DaemonSet.
  selector! @meta.v1.LabelSelector | Selects the pods.
  template! @core.v1.PodTemplateSpec | The pods to create.
  updateStrategy object | How pods are updated.
  minReadySeconds int32 | Seconds a new pod must be ready to count as available.
  revisionHistoryLimit int32 | Revisions kept. Default 10.

@batch.v1.Job gvk=batch:v1:Job | Runs pods to completion.
  spec @batch.v1.JobSpec | Desired behavior.
  status object | Observed state.

@batch.v1.JobSpec | Desired behavior of a job.
  parallelism int32 | Pods running at once. Default 1.
  completions int32 | Successful pods needed.
  activeDeadlineSeconds int64 | Seconds the job may run.
  podFailurePolicy object | How pod failures count.
  successPolicy object | When the job succeeds early.
  backoffLimit int32 | Retries before the job fails. Default 6.
  backoffLimitPerIndex int32 | Retries per index for indexed jobs.
  maxFailedIndexes int32 | Failed indexes before the job fails.
  selector @meta.v1.LabelSelector | Selects the pods; generated by default.
  manualSelector bool | Use the given selector as is.
  template! @core.v1.PodTemplateSpec | The pods to run.
  ttlSecondsAfterFinished int32 | Seconds before a finished job is deleted.
  completionMode string(NonIndexed,Indexed) | How completions are tracked.
  suspend bool | Suspend the job.
  podReplacementPolicy string | When replacement pods are created.
  managedBy string | Controller that manages the job.

@batch.v1.JobTemplateSpec | The jobs a CronJob creates.
  metadata @meta.v1.ObjectMeta | Labels and annotations of the jobs.
  spec @batch.v1.JobSpec | Desired behavior of the jobs.

@batch.v1.CronJob gvk=batch:v1:CronJob | Runs jobs on a schedule.
  spec @batch.v1.CronJobSpec | Desired behavior.
  status object | Observed state.

@batch.v1.CronJobSpec | Desired behavior of a CronJob.
  schedule! string | Schedule in cron format.
  timeZone string | Time zone of the schedule.
  startingDeadlineSeconds int64 | Seconds a missed run may start late.
  concurrencyPolicy string(Allow,Forbid,Replace) | How concurrent runs are handled.
  suspend bool | Suspend future runs.
  jobTemplate! @batch.v1.JobTemplateSpec | The job to create.
  successfulJobsHistoryLimit int32 | Finished jobs kept. Default 3.
  failedJobsHistoryLimit int32 | Failed jobs kept. Default 1.

@autoscaling.v1.Scale gvk=autoscaling:v1:Scale | The scale of a resource.
  spec @autoscaling.v1.ScaleSpec | Desired scale.
  status object | Observed scale.

@autoscaling.v1.ScaleSpec | Desired scale.
  replicas int32 | Desired number of instances.

@rbac.v1.Role gvk=rbac.authorization.k8s.io:v1:Role | Permissions within a namespace.
  rules []@rbac.v1.PolicyRule | Permissions granted.

@rbac.v1.ClusterRole gvk=rbac.authorization.k8s.io:v1:ClusterRole | Permissions across the cluster.
  rules []@rbac.v1.PolicyRule | Permissions granted.
  aggregationRule object | Selects ClusterRoles whose rules are aggregated here.

@rbac.v1.PolicyRule | Verbs allowed on resources or URLs.
  verbs! []string | Verbs allowed; * for all.
  apiGroups []string | API groups; "" is the core group.
  resources []string | Resources; * for all.
  resourceNames []string | Names the rule is limited to.
  nonResourceURLs []string | URL paths, for ClusterRoles only.

@rbac.v1.RoleBinding gvk=rbac.authorization.k8s.io:v1:RoleBinding | Grants a role within a namespace.
  subjects []@rbac.v1.Subject | Who is granted the role.
  roleRef! @rbac.v1.RoleRef | The Role or ClusterRole granted.

@rbac.v1.ClusterRoleBinding gvk=rbac.authorization.k8s.io:v1:ClusterRoleBinding | Grants a ClusterRole across the cluster.
  subjects []@rbac.v1.Subject | Who is granted the role.
  roleRef! @rbac.v1.RoleRef | The ClusterRole granted.

@rbac.v1.Subject | A user, group or service account.
  kind! string(User,Group,ServiceAccount) | Kind of subject.
  apiGroup string | API group of the subject.
  name! string | Name of the subject.
  namespace string | Namespace of a service account.

@rbac.v1.RoleRef | The role a binding grants.
  apiGroup! string | API group of the role.
  kind! string(Role,ClusterRole) | Kind of the role.
  name! string | Name of the role.
"#;

/// Networking, storage, policy, coordination, events and CRDs.
pub const MORE: &str = r#"
@networking.v1.Ingress gvk=networking.k8s.io:v1:Ingress | Routes external HTTP(S) traffic to services.
  spec @networking.v1.IngressSpec | Desired behavior of the ingress.
  status object | Observed state of the ingress.

@networking.v1.IngressSpec | Desired behavior of an ingress.
  ingressClassName string | IngressClass that implements the ingress.
  defaultBackend @networking.v1.IngressBackend | Backend for requests no rule matches.
  tls []@networking.v1.IngressTLS | TLS termination.
  rules []@networking.v1.IngressRule | Host rules.

@networking.v1.IngressTLS | TLS settings for hosts.
  hosts []string | Hosts the certificate covers.
  secretName string | Secret holding the certificate and key.

@networking.v1.IngressRule | Routes for one host.
  host string | Host name; empty matches all.
  http @networking.v1.HTTPIngressRuleValue | HTTP routes.

@networking.v1.HTTPIngressRuleValue | HTTP routes.
  paths! []@networking.v1.HTTPIngressPath | Paths and their backends.

@networking.v1.HTTPIngressPath | A path and its backend.
  path string | Path to match.
  pathType! string(Exact,Prefix,ImplementationSpecific) | How the path matches.
  backend! @networking.v1.IngressBackend | Where matching requests go.

@networking.v1.IngressBackend | A service port or a resource.
  service @networking.v1.IngressServiceBackend | A service.
  resource object | Another object in the namespace.

@networking.v1.IngressServiceBackend | A service and port.
  name! string | Service name.
  port @networking.v1.ServiceBackendPort | Service port.

@networking.v1.ServiceBackendPort | A service port by name or number.
  name string | Port name.
  number int32 | Port number.

@networking.v1.IngressClass gvk=networking.k8s.io:v1:IngressClass | An ingress implementation.
  spec @networking.v1.IngressClassSpec | Desired behavior.

@networking.v1.IngressClassSpec | Desired behavior of an IngressClass.
  controller string | Name of the controller, e.g. example.com/ingress-controller.
  parameters object | Object with extra configuration.

@networking.v1.NetworkPolicy gvk=networking.k8s.io:v1:NetworkPolicy | Allowed traffic for selected pods.
  spec @networking.v1.NetworkPolicySpec | Desired behavior.

@networking.v1.NetworkPolicySpec | Desired behavior of a network policy.
  podSelector @meta.v1.LabelSelector | Pods the policy applies to; empty selects all.
  ingress []@networking.v1.NetworkPolicyIngressRule | Allowed incoming traffic.
  egress []@networking.v1.NetworkPolicyEgressRule | Allowed outgoing traffic.
  policyTypes []string | Ingress, Egress or both.

@networking.v1.NetworkPolicyIngressRule | Allowed incoming traffic.
  ports []@networking.v1.NetworkPolicyPort | Allowed ports.
  from []@networking.v1.NetworkPolicyPeer | Allowed sources.

@networking.v1.NetworkPolicyEgressRule | Allowed outgoing traffic.
  ports []@networking.v1.NetworkPolicyPort | Allowed ports.
  to []@networking.v1.NetworkPolicyPeer | Allowed destinations.

@networking.v1.NetworkPolicyPort | A port or port range.
  protocol string(TCP,UDP,SCTP) | Protocol. Default TCP.
  port intstr | Port number or name.
  endPort int32 | End of a port range.

@networking.v1.NetworkPolicyPeer | Pods, namespaces or an IP block.
  podSelector @meta.v1.LabelSelector | Pods.
  namespaceSelector @meta.v1.LabelSelector | Namespaces.
  ipBlock @networking.v1.IPBlock | IP range.

@networking.v1.IPBlock | An IP range.
  cidr! string | The range, e.g. 10.0.0.0/8.
  except []string | Ranges excluded.

@core.v1.PersistentVolumeClaim gvk=:v1:PersistentVolumeClaim | A request for storage.
  spec @core.v1.PersistentVolumeClaimSpec | Desired storage.
  status object | Observed state.

@core.v1.PersistentVolumeClaimSpec | Desired storage of a claim.
  accessModes []string | ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod.
  selector @meta.v1.LabelSelector | Volumes the claim may bind to.
  resources @core.v1.VolumeResourceRequirements | Requested size.
  volumeName string | Volume the claim is bound to.
  storageClassName string | StorageClass of the claim.
  volumeMode string(Filesystem,Block) | Filesystem or Block. Default Filesystem.
  dataSource object | Object to populate the volume from.
  dataSourceRef object | Object to populate the volume from, any namespace.
  volumeAttributesClassName string | VolumeAttributesClass of the claim.

@core.v1.VolumeResourceRequirements | Storage size requests and limits.
  limits map[quantity] | Maximum size.
  requests map[quantity] | Minimum size.

@core.v1.PersistentVolume gvk=:v1:PersistentVolume | A piece of storage.
  spec @core.v1.PersistentVolumeSpec | The storage.
  status object | Observed state.

@core.v1.PersistentVolumeSpec open | A piece of storage; one volume source field is set.
  capacity map[quantity] | Size of the volume.
  accessModes []string | How the volume can be mounted.
  claimRef object | The claim bound to the volume.
  persistentVolumeReclaimPolicy string(Retain,Delete,Recycle) | What happens when the claim is released.
  storageClassName string | StorageClass of the volume.
  mountOptions []string | Mount options.
  volumeMode string(Filesystem,Block) | Filesystem or Block.
  nodeAffinity object | Nodes the volume can be used from.
  volumeAttributesClassName string | VolumeAttributesClass of the volume.
  hostPath object | A path on the host.
  local object | A local disk.
  nfs object | An NFS export.
  csi object | A CSI volume.

@storage.v1.StorageClass gvk=storage.k8s.io:v1:StorageClass | A class of dynamically provisioned storage.
  provisioner! string | Provisioner name.
  parameters map[string] | Provisioner parameters.
  reclaimPolicy string(Delete,Retain) | Reclaim policy of provisioned volumes. Default Delete.
  mountOptions []string | Mount options of provisioned volumes.
  allowVolumeExpansion bool | Whether claims may grow.
  volumeBindingMode string(Immediate,WaitForFirstConsumer) | When volumes are bound. Default Immediate.
  allowedTopologies []object | Where volumes may be provisioned.

@scheduling.v1.PriorityClass gvk=scheduling.k8s.io:v1:PriorityClass | A named pod priority.
  value! int32 | The priority; higher is more important.
  globalDefault bool | Default for pods without a priority class.
  description string | When to use this class.
  preemptionPolicy string(Never,PreemptLowerPriority) | Whether pods may preempt others.

@policy.v1.PodDisruptionBudget gvk=policy:v1:PodDisruptionBudget | Limits voluntary disruption of pods.
  spec @policy.v1.PodDisruptionBudgetSpec | Desired behavior.
  status object | Observed state.

@policy.v1.PodDisruptionBudgetSpec | Desired behavior of a disruption budget.
  minAvailable intstr | Pods that must stay available.
  selector @meta.v1.LabelSelector | Pods the budget covers.
  maxUnavailable intstr | Pods that may be unavailable.
  unhealthyPodEvictionPolicy string(IfHealthyBudget,AlwaysAllow) | When unhealthy pods may be evicted.

@coordination.v1.Lease gvk=coordination.k8s.io:v1:Lease | A lease for leader election or heartbeats.
  spec @coordination.v1.LeaseSpec | The lease.

@coordination.v1.LeaseSpec | The lease.
  holderIdentity string | Current holder.
  leaseDurationSeconds int32 | Seconds a holder waits before taking over.
  acquireTime time | When the lease was acquired.
  renewTime time | When the holder last renewed.
  leaseTransitions int32 | Times the holder changed.
  strategy string | Leader election strategy.
  preferredHolder string | Holder the lease should move to.

@core.v1.Endpoints gvk=:v1:Endpoints | Addresses behind a service.
  subsets []@core.v1.EndpointSubset | Address and port groups.

@core.v1.EndpointSubset | Addresses sharing ports.
  addresses []object | Ready addresses.
  notReadyAddresses []object | Addresses not ready.
  ports []object | Ports of the addresses.

@discovery.v1.EndpointSlice gvk=discovery.k8s.io:v1:EndpointSlice | A slice of a service's endpoints.
  addressType! string(IPv4,IPv6,FQDN) | Type of the addresses.
  endpoints! []object | Endpoints.
  ports []object | Ports of every endpoint.

@core.v1.Event gvk=:v1:Event | A report of something that happened.
  involvedObject! object | The object the event is about.
  reason string | Short machine-readable reason.
  message string | Human-readable description.
  source object | Component that reported the event.
  firstTimestamp time | First occurrence.
  lastTimestamp time | Latest occurrence.
  count int32 | Occurrences.
  type string | Normal or Warning.
  eventTime time | When the event was first observed.
  series object | Data about a series of events.
  action string | What was done.
  related object | A second object involved.
  reportingComponent string | Controller that emitted the event.
  reportingInstance string | Instance of that controller.

@events.v1.Event gvk=events.k8s.io:v1:Event | A report of something that happened.
  eventTime! time | When the event was first observed.
  series object | Data about a series of events.
  reportingController string | Controller that emitted the event.
  reportingInstance string | Instance of that controller.
  action string | What was done.
  reason string | Why it was done.
  regarding object | The object the event is about.
  related object | A second object involved.
  note string | Human-readable description.
  type string | Normal or Warning.
  deprecatedSource object | Deprecated source.
  deprecatedFirstTimestamp time | Deprecated first occurrence.
  deprecatedLastTimestamp time | Deprecated latest occurrence.
  deprecatedCount int32 | Deprecated count.

@core.v1.LimitRange gvk=:v1:LimitRange | Default and maximum resources in a namespace.
  spec @core.v1.LimitRangeSpec | The limits.

@core.v1.LimitRangeSpec | The limits of a LimitRange.
  limits! []object | Limits per object type.

@core.v1.ResourceQuota gvk=:v1:ResourceQuota | Total resource limits of a namespace.
  spec @core.v1.ResourceQuotaSpec | The quota.
  status object | Usage.

@core.v1.ResourceQuotaSpec | The quota.
  hard map[quantity] | Limit per resource name.
  scopes []string | Objects the quota counts.
  scopeSelector object | Objects the quota counts, by expression.

@core.v1.ReplicationController gvk=:v1:ReplicationController | Keeps a number of pods running (legacy).
  spec @core.v1.ReplicationControllerSpec | Desired behavior.
  status object | Observed state.

@core.v1.ReplicationControllerSpec | Desired behavior of a ReplicationController.
  replicas int32 | Desired number of pods. Default 1.
  minReadySeconds int32 | Seconds a new pod must be ready to count as available.
  selector map[string] | Labels of the pods.
  template @core.v1.PodTemplateSpec | The pods to create.

@core.v1.PodTemplate gvk=:v1:PodTemplate | A stored pod template.
  template @core.v1.PodTemplateSpec | The template.

@apps.v1.ControllerRevision gvk=apps:v1:ControllerRevision | An immutable snapshot of a controller's template.
  data object | The snapshot.
  revision! int64 | Revision number.

@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition gvk=apiextensions.k8s.io:v1:CustomResourceDefinition | Defines a custom resource type.
  spec! @io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec | The type.
  status object | Observed state.

@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec | A custom resource type.
  group! string | API group of the resource.
  names! @io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames | Names of the resource.
  scope! string(Cluster,Namespaced) | Whether objects live in namespaces.
  versions! []@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion | Served versions.
  conversion object | How versions are converted.
  preserveUnknownFields bool | Deprecated; must be false.

@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames | Names of a custom resource.
  plural! string | Plural name used in URLs.
  singular string | Singular name; defaults to the lowercase kind.
  shortNames []string | Short names for kubectl.
  kind! string | Kind in CamelCase.
  listKind string | Kind of lists; defaults to kind + List.
  categories []string | Categories such as all.

@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion | One version of a custom resource.
  name! string | Version name, e.g. v1.
  served! bool | Whether the version is served.
  storage! bool | Whether objects are stored in this version; exactly one is.
  deprecated bool | Whether the version is deprecated.
  deprecationWarning string | Warning returned to clients.
  schema @io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation | Schema of the version.
  subresources object | status and scale subresources.
  additionalPrinterColumns []@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceColumnDefinition | Columns for kubectl get.
  selectableFields []object | Fields usable in field selectors.

@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceValidation | Validation of a version.
  openAPIV3Schema object | The structural OpenAPI v3 schema.

@io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceColumnDefinition | A column for kubectl get.
  name! string | Column header.
  type! string | integer, number, string, boolean or date.
  format string | Format hint.
  description string | What the column shows.
  priority int32 | 0 always shown, higher only with -o wide.
  jsonPath! string | Simple JSONPath of the value.
"#;

// The schema of the served kinds in the format schema.cpp parses. Field names, list types, map keys
// and patch strategies follow Kubernetes v1.32's OpenAPI; descriptions are shortened. Rarely used
// nested types (volume sources, affinity, security contexts, probes' handlers' details) are kept
// as free-form `any` objects: stored as sent, not checked field by field.
#include <cstdio>
#include <cstdlib>

#include "apiserver/apply/schema.h"

namespace podnet::apiserver::schema {
namespace {

constexpr const char* kTable = R"(
# ---- meta/v1
ObjectMeta io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta | Standard metadata every persisted resource must have.
  name string | Name must be unique within a namespace.
  generateName string | Optional prefix the server uses to generate a unique name when name is empty.
  namespace string | The namespace the object belongs to; empty for cluster-scoped objects.
  uid string | Unique in time and space value for this object, set by the server.
  resourceVersion string | Opaque version of this object, used for optimistic concurrency and watch.
  generation int64 | A sequence number representing a specific generation of the desired state.
  creationTimestamp time | When this object was created (server-set).
  deletionTimestamp time | When this object will be deleted (server-set on graceful deletion).
  deletionGracePeriodSeconds int64 | Seconds allowed for graceful termination before removal.
  labels {}string | Map of string keys and values used to organize and select objects.
  annotations {}string | Unstructured key value map for arbitrary metadata.
  ownerReferences []OwnerReference map=uid merge=uid | Objects this object depends on.
  finalizers []string set strategy=merge | Must be empty before the object is deleted from the registry.
  managedFields []ManagedFieldsEntry | Which manager owns which fields (server-side apply bookkeeping).
  selfLink string | Deprecated; not set.
OwnerReference io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference | Enough information to identify an owning object.
  apiVersion string req | API version of the referent.
  kind string req | Kind of the referent.
  name string req | Name of the referent.
  uid string req | UID of the referent.
  controller boolean | If true, this reference points to the managing controller.
  blockOwnerDeletion boolean | If true, the owner cannot be deleted before this object.
ManagedFieldsEntry io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry | A workflow-id, a FieldSet and the version of the resource it applies to.
  manager string | The workflow managing these fields.
  operation string | Apply or Update.
  apiVersion string | The version of this resource the field set applies to.
  time time | When the entry was last changed.
  fieldsType string | The format of fieldsV1: "FieldsV1".
  fieldsV1 any | The set of fields, as a trie of f:/k:/v:/i: keys.
  subresource string | The subresource the fields were written through, if any.
LabelSelector io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector | A label query over a set of resources.
  matchLabels {}string | Equality requirements, ANDed.
  matchExpressions []LabelSelectorRequirement | Set-based requirements, ANDed.
LabelSelectorRequirement io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement | A selector requirement: key, operator and values.
  key string req | The label key the selector applies to.
  operator string req | In, NotIn, Exists or DoesNotExist.
  values []string | Values for In and NotIn.
Condition io.k8s.apimachinery.pkg.apis.meta.v1.Condition | One aspect of the current state of a resource.
  type string req | Type of condition in CamelCase.
  status string req | True, False or Unknown.
  observedGeneration int64 | The .metadata.generation the condition was set for.
  lastTransitionTime time req | When the condition last changed status.
  reason string req | Programmatic identifier of the last transition.
  message string req | Human readable message.

# ---- core/v1 Namespace
Namespace io.k8s.api.core.v1.Namespace @v1/Namespace | Namespace provides a scope for names.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta | Standard object's metadata.
  spec NamespaceSpec | The behavior of the namespace.
  status NamespaceStatus | The current status of the namespace.
NamespaceSpec io.k8s.api.core.v1.NamespaceSpec | Attributes on a namespace.
  finalizers []string atomic | Must be empty before the namespace is removed from storage.
NamespaceStatus io.k8s.api.core.v1.NamespaceStatus | Information about the observed status of a namespace.
  phase string | Active or Terminating.
  conditions []NamespaceCondition map=type merge=type | The latest observations of the namespace's state.
NamespaceCondition io.k8s.api.core.v1.NamespaceCondition | The state of a namespace at a point in time.
  type string req | Type of namespace controller condition.
  status string req | True, False or Unknown.
  lastTransitionTime time | Last time the condition transitioned.
  reason string | Machine-readable reason.
  message string | Human-readable message.

# ---- core/v1 Node
Node io.k8s.api.core.v1.Node @v1/Node | A worker node.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta | Standard object's metadata.
  spec NodeSpec | The behavior of the node.
  status NodeStatus | The most recently observed status of the node.
NodeSpec io.k8s.api.core.v1.NodeSpec | Attributes a node is created with.
  podCIDR string | The pod IP range assigned to the node.
  podCIDRs []string set strategy=merge | The pod IP ranges assigned to the node, one per IP family.
  providerID string | ID of the node assigned by the cloud provider.
  unschedulable boolean | Controls node schedulability of new pods.
  taints []Taint atomic | Taints on the node.
  configSource any | Deprecated.
  externalID string | Deprecated.
Taint io.k8s.api.core.v1.Taint | A taint repels pods that do not tolerate it.
  key string req | The taint key.
  value string | The taint value.
  effect string req | NoSchedule, PreferNoSchedule or NoExecute.
  timeAdded time | When the taint was added (NoExecute only).
NodeStatus io.k8s.api.core.v1.NodeStatus | The current status of a node.
  capacity {}quantity | Total resources of the node.
  allocatable {}quantity | Resources available for scheduling.
  phase string | Deprecated.
  conditions []NodeCondition map=type merge=type | Current service state of the node.
  addresses []NodeAddress map=type merge=type | Addresses reachable to the node.
  daemonEndpoints any | Endpoints of daemons running on the node.
  nodeInfo NodeSystemInfo | General information about the node.
  images []any atomic | Container images on the node.
  volumesInUse []string atomic | Attachable volumes in use.
  volumesAttached []any atomic | Volumes attached to the node.
  config any | Status of the config assigned to the node.
  runtimeHandlers []any atomic | The available runtime handlers.
  features any | Features supported by the node.
NodeCondition io.k8s.api.core.v1.NodeCondition | Condition information for a node.
  type string req | Type of node condition, e.g. Ready.
  status string req | True, False or Unknown.
  lastHeartbeatTime time | Last time the condition was probed.
  lastTransitionTime time | Last time the condition transitioned.
  reason string | Machine-readable reason.
  message string | Human-readable message.
NodeAddress io.k8s.api.core.v1.NodeAddress | An address of the node.
  type string req | Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS.
  address string req | The node address.
NodeSystemInfo io.k8s.api.core.v1.NodeSystemInfo | Identifiers describing the node.
  machineID string req | MachineID reported by the node.
  systemUUID string req | SystemUUID reported by the node.
  bootID string req | Boot ID reported by the node.
  kernelVersion string req | Kernel version (uname -r).
  osImage string req | OS image (/etc/os-release PRETTY_NAME).
  containerRuntimeVersion string req | Container runtime version.
  kubeletVersion string req | Kubelet version.
  kubeProxyVersion string req | Deprecated.
  operatingSystem string req | The operating system.
  architecture string req | The architecture.
  swap any | Swap information.

# ---- core/v1 Pod
Pod io.k8s.api.core.v1.Pod @v1/Pod | Pod is a collection of containers that can run on a host.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta | Standard object's metadata.
  spec PodSpec | Specification of the desired behavior of the pod.
  status PodStatus | Most recently observed status of the pod.
PodSpec io.k8s.api.core.v1.PodSpec | Description of a pod.
  containers []Container req map=name merge=name | Containers belonging to the pod.
  initContainers []Container map=name merge=name | Containers run in order before the app containers start.
  ephemeralContainers []any map=name merge=name | Ephemeral containers run for debugging.
  volumes []Volume map=name merge=name strategy=merge,retainKeys | Volumes that containers can mount.
  restartPolicy string | Always, OnFailure or Never. Default Always.
  terminationGracePeriodSeconds int64 | Seconds the pod needs to terminate gracefully.
  activeDeadlineSeconds int64 | Seconds the pod may be active before the system terminates it.
  dnsPolicy string | ClusterFirst, ClusterFirstWithHostNet, Default or None.
  dnsConfig any | DNS parameters of the pod.
  nodeSelector {}string atomic | Labels a node must have for the pod to fit on it.
  serviceAccountName string | Name of the ServiceAccount to run this pod as.
  serviceAccount string | Deprecated alias of serviceAccountName.
  automountServiceAccountToken boolean | Whether a service account token is mounted.
  nodeName string | The node the pod is bound to.
  hostNetwork boolean | Use the host's network namespace.
  hostPID boolean | Use the host's pid namespace.
  hostIPC boolean | Use the host's ipc namespace.
  hostUsers boolean | Use the host's user namespace.
  shareProcessNamespace boolean | Share a single process namespace between containers.
  securityContext any | Pod-level security attributes.
  imagePullSecrets []LocalObjectReference map=name merge=name | Secrets for pulling images.
  hostname string | The pod's hostname.
  subdomain string | The pod's subdomain.
  setHostnameAsFQDN boolean | Set the hostname to the FQDN.
  affinity any | Scheduling constraints.
  schedulerName string | The scheduler that dispatches the pod.
  tolerations []Toleration atomic | The pod's tolerations.
  hostAliases []HostAlias map=ip merge=ip | Entries added to the pod's hosts file.
  priorityClassName string | The pod's priority class.
  priority int32 | The priority value.
  preemptionPolicy string | Never or PreemptLowerPriority.
  readinessGates []PodReadinessGate atomic | Conditions evaluated for pod readiness.
  runtimeClassName string | The RuntimeClass to run this pod with.
  enableServiceLinks boolean | Inject service environment variables.
  overhead {}quantity | Resource overhead of the pod's runtime.
  topologySpreadConstraints []any map=topologyKey,whenUnsatisfiable merge=topologyKey | How pods spread across topology domains.
  os any | The pod's operating system.
  schedulingGates []any map=name merge=name | Gates that block scheduling.
  resourceClaims []any map=name merge=name strategy=merge,retainKeys | Resource claims.
  resources ResourceRequirements | Pod-level resource requirements.
Container io.k8s.api.core.v1.Container | A single application container that you want to run within a pod.
  name string req | Name of the container specified as a DNS_LABEL.
  image string | Container image name.
  command []string atomic | Entrypoint array; not executed within a shell.
  args []string atomic | Arguments to the entrypoint.
  workingDir string | Container's working directory.
  ports []ContainerPort map=containerPort,protocol merge=containerPort | Ports to expose from the container.
  envFrom []any atomic | Sources to populate environment variables from.
  env []EnvVar map=name merge=name | Environment variables to set in the container.
  resources ResourceRequirements | Compute resources required by this container.
  resizePolicy []any atomic | Resource resize policy.
  restartPolicy string | Init containers only: Always makes a sidecar.
  volumeMounts []VolumeMount map=mountPath merge=mountPath | Volumes to mount into the container's filesystem.
  volumeDevices []any map=devicePath merge=devicePath | Block devices used by the container.
  livenessProbe Probe | Periodic probe of container liveness.
  readinessProbe Probe | Periodic probe of container service readiness.
  startupProbe Probe | Probe that the pod has initialized.
  lifecycle any | Actions to take on container lifecycle events.
  terminationMessagePath string | File the termination message is written to.
  terminationMessagePolicy string | File or FallbackToLogsOnError.
  imagePullPolicy string | Always, Never or IfNotPresent.
  securityContext any | Security options the container should run with.
  stdin boolean | Allocate a buffer for stdin.
  stdinOnce boolean | Close stdin after the first attach.
  tty boolean | Allocate a TTY.
ContainerPort io.k8s.api.core.v1.ContainerPort | A network port in a single container.
  name string | An IANA_SVC_NAME, unique within the pod.
  hostPort int32 | Port to expose on the host.
  containerPort int32 req | Port to expose on the pod's IP address.
  protocol string default="TCP" | UDP, TCP or SCTP. Defaults to TCP.
  hostIP string | Host IP to bind the external port to.
EnvVar io.k8s.api.core.v1.EnvVar | An environment variable present in a container.
  name string req | Name of the environment variable.
  value string | The variable's value; $(VAR) references are expanded.
  valueFrom EnvVarSource | Source for the variable's value.
EnvVarSource io.k8s.api.core.v1.EnvVarSource | Source for the value of an EnvVar.
  fieldRef ObjectFieldSelector | A field of the pod: metadata.name, status.podIP, ...
  resourceFieldRef any | A resource of the container: limits.cpu, requests.memory, ...
  configMapKeyRef any | A key of a ConfigMap.
  secretKeyRef any | A key of a secret in the pod's namespace.
ObjectFieldSelector io.k8s.api.core.v1.ObjectFieldSelector | Selects a field of an object.
  apiVersion string | Version of the schema the FieldPath is written in terms of, defaults to "v1".
  fieldPath string req | Path of the field to select in the specified API version.
VolumeMount io.k8s.api.core.v1.VolumeMount | A mounting of a volume within a container.
  name string req | Must match the name of a volume.
  readOnly boolean | Mounted read-only if true.
  recursiveReadOnly string | Recursive read-only handling.
  mountPath string req | Path within the container.
  subPath string | Path within the volume.
  mountPropagation string | How mounts are propagated.
  subPathExpr string | Expanded path within the volume.
Volume io.k8s.api.core.v1.Volume | A named volume in a pod; the other fields name its source.
  name string req | Volume's name, a DNS_LABEL unique within the pod.
  emptyDir any | A temporary directory that shares a pod's lifetime.
  hostPath any | A pre-existing file or directory on the host.
  configMap any | A ConfigMap that should populate this volume.
  secret any | A Secret that should populate this volume.
  persistentVolumeClaim any | A PersistentVolumeClaim in the same namespace.
  projected any | Items for all-in-one resources.
  downwardAPI any | Downward API about the pod.
  nfs any | An NFS mount on the host.
  csi any | A CSI volume.
  ephemeral any | A volume handled by a cluster storage driver.
  image any | An OCI image or artifact.
ResourceRequirements io.k8s.api.core.v1.ResourceRequirements | Compute resource requirements.
  limits {}quantity | Maximum amount of compute resources allowed.
  requests {}quantity | Minimum amount of compute resources required.
  claims []any map=name | Resource claims used by this container.
Probe io.k8s.api.core.v1.Probe | A health check performed against a container.
  exec ExecAction | The command to run.
  httpGet HTTPGetAction | The HTTP request to perform.
  tcpSocket TCPSocketAction | The TCP port to connect to.
  grpc GRPCAction | A GRPC port.
  initialDelaySeconds int32 | Seconds after the container started before probes are initiated.
  timeoutSeconds int32 | Seconds after which the probe times out.
  periodSeconds int32 | How often (in seconds) to perform the probe.
  successThreshold int32 | Minimum consecutive successes after having failed.
  failureThreshold int32 | Minimum consecutive failures to be considered failed.
  terminationGracePeriodSeconds int64 | Grace period when the probe fails.
ExecAction io.k8s.api.core.v1.ExecAction | Run a command in the container.
  command []string atomic | Command line to execute inside the container; not run in a shell.
GRPCAction io.k8s.api.core.v1.GRPCAction | A GRPC health check.
  port int32 req | Port number of the gRPC service.
  service string | Name of the service in the gRPC HealthCheckRequest.
HTTPGetAction io.k8s.api.core.v1.HTTPGetAction | An action based on HTTP Get requests.
  path string | Path to access on the HTTP server.
  port intstr req | Number or name of the port.
  host string | Host name to connect to; defaults to the pod IP.
  scheme string | HTTP or HTTPS.
  httpHeaders []HTTPHeader atomic | Custom headers to set in the request.
HTTPHeader io.k8s.api.core.v1.HTTPHeader | A custom header used in HTTP probes.
  name string req | The header field name.
  value string req | The header field value.
TCPSocketAction io.k8s.api.core.v1.TCPSocketAction | An action based on opening a socket.
  port intstr req | Number or name of the port.
  host string | Host name to connect to; defaults to the pod IP.
LocalObjectReference io.k8s.api.core.v1.LocalObjectReference | A reference to an object in the same namespace.
  name string | Name of the referent.
Toleration io.k8s.api.core.v1.Toleration | Tolerates any taint matching key, value and effect with the operator.
  key string | The taint key the toleration applies to.
  operator string | Exists or Equal.
  value string | The taint value the toleration matches.
  effect string | The taint effect to match.
  tolerationSeconds int64 | How long a NoExecute taint is tolerated.
HostAlias io.k8s.api.core.v1.HostAlias | An entry of the pod's hosts file.
  ip string req | IP address of the host file entry.
  hostnames []string atomic | Hostnames for the IP address.
PodReadinessGate io.k8s.api.core.v1.PodReadinessGate | A pod condition readiness depends on.
  conditionType string req | A condition type in the pod's condition list.
PodStatus io.k8s.api.core.v1.PodStatus | Information about the status of a pod.
  phase string | Pending, Running, Succeeded, Failed or Unknown.
  conditions []PodCondition map=type merge=type | Current service state of the pod.
  message string | Why the pod is in this condition.
  reason string | Brief CamelCase reason.
  nominatedNodeName string | Node the pod was nominated for by preemption.
  hostIP string | IP address of the host the pod is assigned to.
  hostIPs []HostIP map=ip merge=ip | IP addresses of the host.
  podIP string | IP address allocated to the pod.
  podIPs []PodIP map=ip merge=ip | IP addresses allocated to the pod.
  startTime time | When the pod was acknowledged by the kubelet.
  initContainerStatuses []ContainerStatus atomic | Status of each init container.
  containerStatuses []ContainerStatus atomic | Status of each container.
  ephemeralContainerStatuses []ContainerStatus atomic | Status of each ephemeral container.
  qosClass string | Guaranteed, Burstable or BestEffort.
  resize string | Status of a requested resize.
  resourceClaimStatuses []any map=name merge=name | Status of resource claims.
PodCondition io.k8s.api.core.v1.PodCondition | The state of a pod.
  type string req | Type of the condition, e.g. Ready.
  status string req | True, False or Unknown.
  lastProbeTime time | Last time the condition was probed.
  lastTransitionTime time | Last time the condition transitioned.
  reason string | Machine-readable reason.
  message string | Human-readable message.
HostIP io.k8s.api.core.v1.HostIP | An IP address of the host.
  ip string req | The IP address.
PodIP io.k8s.api.core.v1.PodIP | An IP address allocated to the pod.
  ip string req | The IP address.
ContainerStatus io.k8s.api.core.v1.ContainerStatus | The status of a container.
  name string req | The container's name.
  state any | The container's current condition.
  lastState any | The container's last termination condition.
  ready boolean req | Whether the container passed its readiness probe.
  restartCount int32 req | Number of restarts.
  image string req | The image the container runs.
  imageID string req | The image's ID.
  containerID string | The container's ID: <type>://<id>.
  started boolean | Whether the container passed its startup probe.
  allocatedResources {}quantity | Resources allocated to the container.
  resources ResourceRequirements | Resources configured for the container.
  volumeMounts []any atomic | Volume mounts of the container.
  user any | User identity information.
  allocatedResourcesStatus []any map=name | Status of allocated resources.
  stopSignal string | The stop signal.

# ---- core/v1 Service
Service io.k8s.api.core.v1.Service @v1/Service | A named abstraction of software service: a port proxied to the pods its selector matches.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta | Standard object's metadata.
  spec ServiceSpec | The behavior of the service.
  status ServiceStatus | The most recently observed status of the service.
ServiceSpec io.k8s.api.core.v1.ServiceSpec | Attributes a user creates on a service.
  ports []ServicePort map=port,protocol merge=port | The ports exposed by this service.
  selector {}string atomic | Route traffic to pods with labels matching this selector.
  clusterIP string | The IP address of the service, usually assigned randomly.
  clusterIPs []string atomic | IP addresses of the service, one per IP family.
  type string | ClusterIP, NodePort, LoadBalancer or ExternalName.
  externalIPs []string atomic | IPs for which nodes also accept traffic for this service.
  sessionAffinity string | ClientIP or None.
  loadBalancerIP string | Deprecated.
  loadBalancerSourceRanges []string atomic | Client IP ranges allowed to a load balancer.
  externalName string | The DNS name an ExternalName service points to.
  externalTrafficPolicy string | Cluster or Local.
  healthCheckNodePort int32 | The health check node port for externalTrafficPolicy Local.
  publishNotReadyAddresses boolean | Publish endpoints regardless of readiness.
  sessionAffinityConfig any | Session affinity configuration.
  ipFamilies []string atomic | IPv4, IPv6 or both.
  ipFamilyPolicy string | SingleStack, PreferDualStack or RequireDualStack.
  allocateLoadBalancerNodePorts boolean | Whether node ports are allocated for load balancers.
  loadBalancerClass string | The class of the load balancer implementation.
  internalTrafficPolicy string | Cluster or Local.
  trafficDistribution string | Preference for distributing traffic to endpoints.
ServicePort io.k8s.api.core.v1.ServicePort | A port of a service.
  name string | The port's name, an IANA_SVC_NAME unique within the service.
  protocol string default="TCP" | TCP, UDP or SCTP. Default TCP.
  appProtocol string | The application protocol of this port.
  port int32 req | The port exposed by this service.
  targetPort intstr | Number or name of the port to access on the pods.
  nodePort int32 | The port on each node for NodePort or LoadBalancer services.
ServiceStatus io.k8s.api.core.v1.ServiceStatus | The current status of a service.
  loadBalancer LoadBalancerStatus | The current status of the load balancer, if any.
  conditions []Condition map=type merge=type | The current state of the service.
LoadBalancerStatus io.k8s.api.core.v1.LoadBalancerStatus | The status of a load balancer.
  ingress []LoadBalancerIngress atomic | Ingress points of the load balancer.
LoadBalancerIngress io.k8s.api.core.v1.LoadBalancerIngress | An ingress point of a load balancer.
  ip string | IP of an IP-based load balancer.
  hostname string | Hostname of a DNS-based load balancer.
  ipMode string | VIP or Proxy.
  ports []any atomic | Records of service ports.

# ---- core/v1 Event
Event io.k8s.api.core.v1.Event @v1/Event | A report of an event somewhere in the cluster.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta req | Standard object's metadata.
  involvedObject ObjectReference req | The object this event is about.
  reason string | Short machine-understandable reason for the transition.
  message string | Human-readable description of the status of this operation.
  source EventSource | The component reporting this event.
  firstTimestamp time | When the event was first recorded.
  lastTimestamp time | When the event most recently occurred.
  count int32 | Number of times this event has occurred.
  type string | Normal or Warning.
  eventTime time | When the event was first observed (micro time).
  series any | Data about the event series.
  action string | What action was taken or failed.
  related ObjectReference | A secondary object for more complex actions.
  reportingComponent string | The controller that emitted the event.
  reportingInstance string | The ID of the controller instance.
ObjectReference io.k8s.api.core.v1.ObjectReference | A reference to an object.
  kind string | Kind of the referent.
  namespace string | Namespace of the referent.
  name string | Name of the referent.
  uid string | UID of the referent.
  apiVersion string | API version of the referent.
  resourceVersion string | Specific resourceVersion the reference is made to.
  fieldPath string | A piece of the object, e.g. spec.containers{name}.
EventSource io.k8s.api.core.v1.EventSource | The source of an event.
  component string | Component from which the event is generated.
  host string | Node name on which the event is generated.

# ---- discovery.k8s.io/v1
EndpointSlice io.k8s.api.discovery.v1.EndpointSlice @discovery.k8s.io/v1/EndpointSlice | A subset of the endpoints that implement a service.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta | Standard object's metadata.
  addressType string req | IPv4, IPv6 or FQDN.
  endpoints []Endpoint req atomic | The endpoints in this slice.
  ports []EndpointPort atomic | The network ports exposed by each endpoint.
Endpoint io.k8s.api.discovery.v1.Endpoint | A single logical backend implementing a service.
  addresses []string req set | Addresses of this endpoint.
  conditions EndpointConditions | The current state of the endpoint.
  hostname string | Hostname of this endpoint.
  targetRef ObjectReference | The object this endpoint represents, usually a Pod.
  deprecatedTopology {}string | Deprecated topology information.
  nodeName string | The node hosting this endpoint.
  zone string | The zone this endpoint exists in.
  hints any | Hints for consuming the endpoint.
EndpointConditions io.k8s.api.discovery.v1.EndpointConditions | The current condition of an endpoint.
  ready boolean | Whether the endpoint is ready for traffic.
  serving boolean | Like ready, but also true while terminating.
  terminating boolean | Whether the endpoint is terminating.
EndpointPort io.k8s.api.discovery.v1.EndpointPort | A port used by an EndpointSlice.
  name string | The port's name.
  protocol string | TCP, UDP or SCTP.
  port int32 | The port number of the endpoint.
  appProtocol string | The application protocol of this port.

# ---- networking.k8s.io/v1
NetworkPolicy io.k8s.api.networking.v1.NetworkPolicy @networking.k8s.io/v1/NetworkPolicy | What network traffic is allowed for a set of pods.
  apiVersion string | APIVersion defines the versioned schema of this representation of an object.
  kind string | Kind is a string value representing the REST resource this object represents.
  metadata ObjectMeta | Standard object's metadata.
  spec NetworkPolicySpec | The desired behavior of this policy.
NetworkPolicySpec io.k8s.api.networking.v1.NetworkPolicySpec | The specification of a NetworkPolicy.
  podSelector LabelSelector req | The pods this policy applies to; empty selects all in the namespace.
  ingress []NetworkPolicyIngressRule atomic | Ingress rules; traffic matching any is allowed.
  egress []NetworkPolicyEgressRule atomic | Egress rules; traffic matching any is allowed.
  policyTypes []string atomic | Ingress, Egress or both.
NetworkPolicyIngressRule io.k8s.api.networking.v1.NetworkPolicyIngressRule | Traffic allowed to the selected pods.
  ports []NetworkPolicyPort atomic | Ports allowed; empty allows all.
  from []NetworkPolicyPeer atomic | Sources allowed; empty allows all.
NetworkPolicyEgressRule io.k8s.api.networking.v1.NetworkPolicyEgressRule | Traffic allowed from the selected pods.
  ports []NetworkPolicyPort atomic | Ports allowed; empty allows all.
  to []NetworkPolicyPeer atomic | Destinations allowed; empty allows all.
NetworkPolicyPort io.k8s.api.networking.v1.NetworkPolicyPort | A port to allow traffic on.
  protocol string | TCP, UDP or SCTP. Default TCP.
  port intstr | A port number or name on the pods.
  endPort int32 | The end of a port range starting at port.
NetworkPolicyPeer io.k8s.api.networking.v1.NetworkPolicyPeer | A peer to allow traffic to or from.
  podSelector LabelSelector | Pods selected by labels (in namespaceSelector's namespaces, or this one).
  namespaceSelector LabelSelector | Namespaces selected by labels.
  ipBlock IPBlock | An IP range.
IPBlock io.k8s.api.networking.v1.IPBlock | A CIDR, with exceptions.
  cidr string req | The CIDR, e.g. 192.168.1.0/24.
  except []string atomic | CIDRs excluded from cidr.
)";

}  // namespace

const Schema& Schema::builtin() {
  static const Schema schema = [] {
    std::string error;
    auto s = Schema::parse(kTable, &error);
    if (!s) {
      std::fprintf(stderr, "podnet: built-in schema: %s\n", error.c_str());
      std::abort();
    }
    return std::move(*s);
  }();
  return schema;
}

}  // namespace podnet::apiserver::schema

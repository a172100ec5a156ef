// Network: each service's status, certificate fingerprint, nodes and commit point, live.
import { pemToDer, sha256, toHex } from "@confide/sdk";
import { readJson } from "../api.ts";
import { ErrorLine, type Acting } from "../App.tsx";
import { useLive } from "../live.ts";

interface NetworkInfo {
  service_status: string;
  service_certificate: string;
  current_view: number;
  primary_id: string;
}

interface NodesInfo {
  nodes: { node_id: string; status: string; primary: boolean; rpc_interfaces: Record<string, { published_address?: string; bind_address?: string }> }[];
}

async function loadService(service: string) {
  const [network, nodes, commit] = await Promise.all([
    readJson<NetworkInfo>(service, "/node/network"),
    readJson<NodesInfo>(service, "/node/network/nodes"),
    readJson<{ transaction_id: string }>(service, "/node/commit"),
  ]);
  const der = pemToDer(network.service_certificate);
  const fingerprint = der ? toHex(await sha256(der)).replace(/(..)(?!$)/g, "$1:") : "(unreadable certificate)";
  return { service, network, nodes, commit: commit.transaction_id, fingerprint };
}

export function NetworkPage({ acting }: { acting: Acting }) {
  const live = useLive(() => Promise.all(acting.identities.services.map((s) => loadService(s.name))), [acting.identities]);
  return (
    <section aria-labelledby="network-title">
      <h2 id="network-title">Network</h2>
      <ErrorLine error={live.error} />
      {live.value?.map(({ service, network, nodes, commit, fingerprint }) => (
        <article key={service} aria-label={`service ${service}`}>
          <h3>{service}</h3>
          <dl>
            <dt>Status</dt>
            <dd data-testid={`status-${service}`}>{network.service_status}</dd>
            <dt>Service certificate (SHA-256)</dt>
            <dd className="mono">{fingerprint}</dd>
            <dt>View</dt>
            <dd>{network.current_view}</dd>
            <dt>Committed</dt>
            <dd data-testid={`commit-${service}`}>{commit}</dd>
          </dl>
          <table>
            <caption>Nodes</caption>
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Status</th>
                <th scope="col">Role</th>
                <th scope="col">Address</th>
              </tr>
            </thead>
            <tbody>
              {nodes.nodes.map((n) => (
                <tr key={n.node_id}>
                  <td className="mono" title={n.node_id}>
                    {n.node_id.slice(0, 16)}…
                  </td>
                  <td>{n.status}</td>
                  <td>{n.primary ? "primary" : "backup"}</td>
                  <td>{Object.values(n.rpc_interfaces).map((i) => i.published_address ?? i.bind_address).join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </article>
      ))}
    </section>
  );
}

// Default constitution, part 3 of 4: resolve(), run when a proposal is
// submitted and after every ballot. The host also passes the proposal id as a
// fourth argument, which this rule has no use for.
//
// A strict majority of the Active members accepts. Nothing rejects: a
// proposal that cannot reach a majority stays Open until it is withdrawn or
// dropped. Members not yet Active (Accepted, awaiting their ack) do not count,
// and the proposer has no special standing: its ballot, if it casts one,
// counts like any other.
export function resolve(proposal, proposerId, votes) {
  const yesVotes = votes.filter((v) => v.vote).length;

  let activeMembers = 0;
  ccf.kv["public:ccf.gov.members.info"].forEach((value) => {
    if (ccf.bufToJsonCompatible(value).status === "Active") {
      activeMembers++;
    }
  });

  if (yesVotes > Math.floor(activeMembers / 2)) {
    return "Accepted";
  }
  return "Open";
}

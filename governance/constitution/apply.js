// Default constitution, part 4 of 4: apply(), run once a proposal is
// Accepted, in the same transaction. Actions apply in order; one that throws
// fails the whole proposal and none of its writes are kept.
export function apply(proposal, proposalId) {
  for (const action of JSON.parse(proposal).actions) {
    actions.get(action.name).apply(action.args, proposalId);
  }
}

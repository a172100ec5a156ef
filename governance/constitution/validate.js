// Default constitution, part 2 of 4: validate(), run when a proposal is
// submitted. A proposal that fails is refused with 400 ProposalFailedToValidate
// "Proposal failed to validate: <description>", so the description names each
// faulty action, its position and the bad arg.
export function validate(input) {
  const proposal = JSON.parse(input);
  if (typeof proposal !== "object" || proposal === null || !Array.isArray(proposal.actions)) {
    return { valid: false, description: "proposal must be an object with an actions array" };
  }
  const errors = [];
  proposal.actions.forEach((action, position) => {
    const definition = action !== null && typeof action === "object" ? actions.get(action.name) : undefined;
    if (definition === undefined) {
      const name = action !== null && typeof action === "object" ? action.name : action;
      errors.push(`${name}: no such action`);
      return;
    }
    try {
      definition.validate(action.args);
    } catch (e) {
      errors.push(`${action.name} at position ${position} failed validation: ${e}`);
    }
  });
  return { valid: errors.length === 0, description: errors.join(", ") };
}

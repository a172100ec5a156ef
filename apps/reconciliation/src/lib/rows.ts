// Report rows. A schema with one attribute (the sample's lei → nace) gets the
// sample's row, so its clients and tutorials work:
//   {group_status, majority_minority, count_of_unique_values, members_in_agreement, <key field>, <attribute>}
// Richer schemas (or ?view=detailed) get one entry per attribute with the
// agreeing and disagreeing party counts, total votes and distinct values.
// Below k the counts are null: NOT_ENOUGH_DATA and nothing else.
import type { Schema } from "./config.ts";
import type { AttributeVerdict, KeyVerdict } from "./verdict.ts";

export type View = "sample" | "detailed";

export function viewFor(schema: Schema, requested: string | undefined): View {
  return requested === "detailed" || schema.attributes.length > 1 ? "detailed" : "sample";
}

export function reportRow(schema: Schema, view: View, key: string, verdict: KeyVerdict, revisions: number, only?: string): Record<string, unknown> {
  if (view === "sample") {
    const name = schema.attributes[0]!.name;
    const a = verdict.attributes[name]!;
    return {
      group_status: verdict.status,
      majority_minority: majorityText(a),
      count_of_unique_values: a.distinct,
      members_in_agreement: a.agreeing,
      [schema.key]: key,
      [name]: a.value,
    };
  }
  const attributes: Record<string, unknown> = {};
  for (const attribute of schema.attributes) {
    if (only !== undefined && attribute.name !== only) continue;
    const a = verdict.attributes[attribute.name]!;
    attributes[attribute.name] = {
      status: a.status,
      value: a.value,
      majority_minority: majorityText(a),
      agreeing: a.agreeing,
      disagreeing: a.disagreeing,
      total_votes: a.votes,
      distinct_values: a.distinct,
    };
  }
  return { key, status: verdict.status, revisions, attributes };
}

function majorityText(a: AttributeVerdict): "Majority" | "Minority" | null {
  return a.majority === null ? null : a.majority ? "Majority" : "Minority";
}

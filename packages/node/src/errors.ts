// Expected failures that clients see, each with CCF's status and error code.
// One function at the HTTP edge turns them into `{"error":{"code","message"}}`.

export interface CcfErrorDetail {
  code: string;
  message: string;
  [field: string]: unknown;
}

export class CcfError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: CcfErrorDetail[],
    /** Extra response headers (e.g. `retry-after`, `www-authenticate`, `allow`). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = "CcfError";
  }

  /** The JSON body CCF sends for this error. */
  body(): { error: { code: string; message: string; details?: CcfErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** A write reached a backup: the primary must run it (a frontend with a forwarder sends it there). */
export class NotPrimaryError extends CcfError {
  constructor() {
    super(503, "InternalError", "This node is not the primary: writes go to the primary");
    this.name = "NotPrimaryError";
  }
}

// The codes of ccf::errors that Confide returns, named once so they are spelt once.
export const ErrorCode = {
  InternalError: "InternalError",
  InvalidAuthenticationInfo: "InvalidAuthenticationInfo",
  AuthorizationFailed: "AuthorizationFailed",
  InvalidInput: "InvalidInput",
  InvalidQueryParameterValue: "InvalidQueryParameterValue",
  InvalidHeaderValue: "InvalidHeaderValue",
  MissingRequiredHeader: "MissingRequiredHeader",
  ResourceNotFound: "ResourceNotFound",
  PrimaryNotFound: "PrimaryNotFound",
  RequestAlreadyForwarded: "RequestAlreadyForwarded",
  UnsupportedHttpVerb: "UnsupportedHttpVerb",
  UnsupportedContentType: "UnsupportedContentType",
  RequestBodyTooLarge: "RequestBodyTooLarge",
  RequestHeaderTooLarge: "RequestHeaderTooLarge",
  FrontendNotOpen: "FrontendNotOpen",
  TransactionNotFound: "TransactionNotFound",
  TransactionPendingOrUnknown: "TransactionPendingOrUnknown",
  TransactionInvalid: "TransactionInvalid",
  UnknownCertificate: "UnknownCertificate",
  ServiceNotWaitingForRecoveryShares: "ServiceNotWaitingForRecoveryShares",
  NodeAlreadyRecovering: "NodeAlreadyRecovering",
} as const;

/**
 * The dn CLI's version.
 *
 * @module
 */

/**
 * Version printed by `dn version` as `dn <VERSION>`.
 *
 * @example
 * ```ts
 * console.log(`dn ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";

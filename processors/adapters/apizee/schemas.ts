/** The Apizee payload shapes (schemas/providers/apizee/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import { APIZEE_SCHEMA_OF } from './table.js';

const schemas = payloadSchemas('apizee', 'Apizee', APIZEE_SCHEMA_OF, ['Envelope']);

export const APIZEE_SCHEMA_NAMES = schemas.names;
export const apizeeSchemaJson = schemas.json;
export const checkShape = schemas.check;
export const readShape = schemas.read;

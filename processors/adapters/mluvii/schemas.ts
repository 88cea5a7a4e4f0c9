/** The mluvii payload shapes (schemas/providers/mluvii/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import { MLUVII_SCHEMA_OF } from './table.js';

const schemas = payloadSchemas('mluvii', 'mluvii', MLUVII_SCHEMA_OF, ['Envelope']);

export const MLUVII_SCHEMA_NAMES = schemas.names;
export const mluviiSchemaJson = schemas.json;
export const checkShape = schemas.check;
export const readShape = schemas.read;

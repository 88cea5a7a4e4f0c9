/** The Apizee payload shapes (schemas/providers/apizee/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import type { ApizeeSchemaName } from './table.js';

const schemas = payloadSchemas<ApizeeSchemaName>('apizee', 'Apizee');

export const apizeeSchemaJson = schemas.json;
export const checkShape = schemas.check;

/** The Zoom payload shapes (schemas/providers/zoom/*.avsc) and the check of a body against one. */
import { payloadSchemas } from '../payload-schemas.js';
import { ZOOM_SCHEMA_OF } from './table.js';

const schemas = payloadSchemas('zoom', 'Zoom', ZOOM_SCHEMA_OF, ['Envelope']);

export const ZOOM_SCHEMA_NAMES = schemas.names;
export const zoomSchemaJson = schemas.json;
export const checkShape = schemas.check;
export const readShape = schemas.read;
